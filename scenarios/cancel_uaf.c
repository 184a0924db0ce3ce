/*
 * cancel_uaf: a cancelled send's completion delivered into a freed pipe.
 *
 * Upstream: nanomsg/nng#1837 "IPC - Use After Free" (Windows). ipc_send_cb,
 * run by an I/O completion port worker, unlinked the pipe's tx_aio from the
 * connection's send_aios list (nni_list_node_remove) after the pipe had been
 * closed and freed; found by looping a modified reqrep demo that closes the
 * socket from another thread, diagnosed in a debugger. Fixed by
 * nanomsg/nng#1848 (commit b7298cf2, v1.9.0): stopping the connection waits
 * until the cancelled operations' own completions have been delivered
 * (sending/recving cleared by the callbacks). That fix was incomplete: on
 * 1.9.0 the same stress test still crashed in ipc_send_cb (nanomsg/nng#1930);
 * the remaining hole was the Windows IPC accept path ignoring
 * nni_aio_schedule's result, fixed by nanomsg/nng#1956. Files:
 * src/platform/windows/win_ipcconn.c, win_io.c, src/sp/transport/ipc/ipc.c.
 *
 * The rule at stake is the completion port's: CancelIoEx (here
 * IORING_OP_ASYNC_CANCEL, or the emulated port's cancel) does not suppress
 * the cancelled operation's completion. It still arrives, with
 * ERROR_OPERATION_ABORTED (-ECANCELED), and its callback still runs.
 *
 * Ours                  upstream
 * struct ipc_conn       ipc_conn (win_ipcconn.c): f, send_io, send_aios,
 *                       sending, closed, mtx, cv
 * conn.send_io          nni_win_io send_io, the OVERLAPPED; its address is
 *                       the completion cookie, as the OVERLAPPED's is on IOCP
 * struct ipc_pipe       ipc_pipe (sp/transport/ipc/ipc.c), rr_alloc'd
 * pipe->tx_aio          nni_aio tx_aio, embedded by value; .node is its
 *                       nni_list_node on conn.send_aios while in flight
 * ipc_send()            ipc_send + ipc_send_start: link, sending, WriteFile
 * ipc_close()           ipc_close: closed, CancelIoEx(f, &send_io.olpd)
 * ipc_stop()            the fix: wait until !sending before anything is freed
 * ipc_send_cb()         ipc_send_cb: nni_list_first(&send_aios), then
 *                       nni_aio_list_remove, clear sending, wake cv
 * list_node_remove()    nni_list_node_remove
 * role app              the thread that closes the socket and frees the pipe
 * role reaper           the IOCP worker (win_io.c): GetQueuedCompletionStatus,
 *                       then the operation's callback
 * param work_us         the rest of the pipe teardown between the cancel and
 *                       the free (ipc_pipe_close/fini stopping the other aios)
 * param pin             the IOCP worker waits on a core of its own: app and
 *                       reaper each pinned (rr_pin_role) under free-running
 *                       strategies. Unpinned, the kernel wakes the reaper on
 *                       the CPU where app spins through its teardown, and the
 *                       callback runs late for that reason alone: plain
 *                       looping then failed within a median of 3 iterations,
 *                       where upstream's stress loop needed seconds to minutes.
 *
 * The send is really pending: our end of a socketpair whose peer never reads
 * has a full send buffer, so the kernel arms the send and waits, as WriteFile
 * waits on a named pipe whose reader is busy.
 *
 * The failing interleaving (buggy):
 *
 *   app                                     reaper
 *   ipc_send: link tx_aio, submit send      waits on the port
 *   ipc_close: closed, cancel send_io
 *     (the send completes with -ECANCELED: queued on the port)
 *   teardown (work_us)
 *   rr_free(pipe)
 *                                           ipc_send_cb: first(send_aios) is
 *                                           &pipe->tx_aio; list_node_remove
 *                                           writes into the freed pipe
 *
 * Invariant the fix restores: an operation's state (and the object that embeds
 * it) is freed only after that operation's own completion has been delivered;
 * the callback that consumes the completion says so by clearing `sending`,
 * and close waits for that on the connection's condition variable, without
 * polling or sleeping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "racerepro_cport.h"

struct list_node {
	struct list_node *next;
	struct list_node *prev;
};

/* nni_aio: one asynchronous operation's state. */
struct aio {
	struct list_node node;
	const void *buf;
	size_t len;
	int result;
};

struct ipc_conn {
	int fd;      /* our end: the pipe handle f */
	int peer_fd; /* the other end, which never reads */
	struct rr_cport *port;
	struct list_node send_aios; /* aios whose send is in flight */
	char send_io;               /* stands for the OVERLAPPED: its address is the cookie */
	char stop_io;               /* cookie posted to stop the reaper */
	int sending;
	int closed;
	int pin;          /* param pin: app and reaper on CPUs of their own */
	int reaper_ready; /* the IOCP worker is running (or gave up: reaper_rc) */
	int reaper_rc;    /* 0, or -errno: the worker could not be placed */
	struct rr_mutex mtx;
	struct rr_cond cv;
};

struct ipc_pipe {
	struct ipc_conn *conn;
	struct aio tx_aio;
	unsigned char tx_buf[64];
};

/* Per worker: the port lives as long as the worker, and every iteration
 * leaves it with nothing in flight. */
struct cancel_state {
	struct rr_cport *port;
	long long work_us;
	int pin;
};

static uint64_t cookie(const void *io)
{
	return (uint64_t)(uintptr_t)io;
}

static struct ipc_pipe *pipe_of(struct aio *aio)
{
	return (struct ipc_pipe *)(void *)((char *)aio - offsetof(struct ipc_pipe, tx_aio));
}

static void list_init(struct list_node *head)
{
	head->next = head;
	head->prev = head;
}

static void list_append(struct list_node *head, struct list_node *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static void list_node_remove(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = NULL;
	n->prev = NULL;
}

static struct aio *list_first(struct list_node *head)
{
	if (head->next == head)
		return NULL;
	return (struct aio *)(void *)((char *)head->next - offsetof(struct aio, node));
}

/* Fills our end's send buffer: with the peer never reading, the send that
 * follows cannot complete and stays pending in the kernel. */
static int fill_send_buffer(int fd)
{
	static const unsigned char junk[16384];
	int small = 4096;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) < 0)
		return rr_env_error(errno, "setsockopt(SO_SNDBUF): %s", strerror(errno));
	for (;;) {
		ssize_t n = send(fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0 || errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return rr_env_error(errno, "send (filling the buffer): %s", strerror(errno));
	}
}

static int conn_open(struct ipc_conn *c, struct rr_cport *port)
{
	int sv[2], rc;

	memset(c, 0, sizeof *c);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return rr_env_error(errno, "socketpair: %s", strerror(errno));
	c->fd = sv[0];
	c->peer_fd = sv[1];
	rr_fd_name(c->fd, "ipc_conn.f");
	rr_fd_name(c->peer_fd, "peer");
	rc = fill_send_buffer(c->fd);
	if (rc) {
		rr_close(c->fd);
		rr_close(c->peer_fd);
		return rc;
	}
	c->port = port;
	list_init(&c->send_aios);
	rr_mutex_init(&c->mtx, "ipc_conn.mtx");
	rr_cond_init(&c->cv, "ipc_conn.cv");
	return 0;
}

static int conn_close(struct ipc_conn *c)
{
	int rc = 0;

	if (rr_close(c->fd) < 0)
		rc = rr_env_error(errno, "close(ipc_conn.f): %s", strerror(errno));
	if (rr_close(c->peer_fd) < 0)
		rc = rr_env_error(errno, "close(peer): %s", strerror(errno));
	rr_cond_destroy(&c->cv);
	rr_mutex_destroy(&c->mtx);
	return rc;
}

/* ipc_send + ipc_send_start: the aio goes on send_aios and the send is
 * submitted, under the connection's lock. */
static int ipc_send(struct ipc_conn *c, struct aio *aio)
{
	int rc;

	rr_mutex_lock(&c->mtx);
	list_append(&c->send_aios, &aio->node);
	c->sending = 1;
	rc = rr_cport_send(c->port, c->fd, aio->buf, aio->len, cookie(&c->send_io));
	if (rc) {
		list_node_remove(&aio->node);
		c->sending = 0;
	}
	rr_mutex_unlock(&c->mtx);
	return rc;
}

/* ipc_close: mark closed and cancel the send in flight (CancelIoEx). Returns
 * without waiting: the cancelled send still delivers its completion. */
static int ipc_close(struct ipc_conn *c)
{
	int rc = 0;

	rr_mutex_lock(&c->mtx);
	if (!c->closed) {
		c->closed = 1;
		if (c->sending)
			rc = rr_cport_cancel(c->port, cookie(&c->send_io));
	}
	rr_mutex_unlock(&c->mtx);
	return rc;
}

/* The fix (ipc_stop after nng#1848): wait until the callback has consumed
 * the in-flight send's own completion. Upstream polls, sleeping 1 ms at a time
 * for up to 10 s; ours waits on the condition ipc_send_cb signals. */
static void ipc_stop(struct ipc_conn *c)
{
	rr_mutex_lock(&c->mtx);
	while (c->sending)
		rr_cond_wait(&c->cv, &c->mtx);
	rr_mutex_unlock(&c->mtx);
}

/* ipc_send_cb, run by the reaper for the send's completion, cancelled or
 * not: the first aio on send_aios is the one that was in flight. */
static void ipc_send_cb(struct ipc_conn *c, int res)
{
	struct aio *aio;

	rr_mutex_lock(&c->mtx);
	aio = list_first(&c->send_aios);
	if (aio) {
		/* The aio lives inside the pipe: if app freed it, this unlink
		 * is the write into freed memory of nng#1837. */
		rr_touch(pipe_of(aio), "ipc_send_cb: nni_list_node_remove(&pipe->tx_aio)");
		list_node_remove(&aio->node);
		aio->result = res;
	}
	c->sending = 0;
	if (c->closed)
		rr_cond_broadcast(&c->cv);
	rr_mutex_unlock(&c->mtx);
}

/* The IOCP worker: takes completions off the port and runs their callbacks
 * until it is posted the stop cookie. */
static void *reaper_main(void *arg)
{
	struct ipc_conn *c = arg;
	struct rr_completion done;
	/* An IOCP worker sleeps on the port on a core of its own, not on the
	 * one where app is busy tearing the pipe down. */
	int rc = c->pin ? rr_pin_role("reaper") : 0;

	rr_mutex_lock(&c->mtx);
	c->reaper_ready = 1;
	c->reaper_rc = rc;
	rr_cond_broadcast(&c->cv);
	rr_mutex_unlock(&c->mtx);
	if (rc)
		return (void *)(intptr_t)rc;
	for (;;) {
		if (rr_cport_wait(c->port, &done) != 0)
			return (void *)(intptr_t)-1;
		if (done.user_data == cookie(&c->stop_io))
			return NULL;
		/* The completion is in hand, its callback not yet run: app
		 * may free the pipe right here. */
		rr_point("reaper.callback");
		ipc_send_cb(c, done.res);
	}
}

/* Upstream's IOCP workers wait on the port long before a pipe exists; ours
 * starts with the iteration, so app lets it get going first. Otherwise the
 * race would mostly measure how long a new thread takes to be scheduled. */
static int wait_for_reaper(struct ipc_conn *c)
{
	int rc;

	rr_mutex_lock(&c->mtx);
	while (!c->reaper_ready)
		rr_cond_wait(&c->cv, &c->mtx);
	rc = c->reaper_rc;
	rr_mutex_unlock(&c->mtx);
	return rc;
}

static int cancel_setup(void **state)
{
	static struct cancel_state st;
	int want = rr_cport_backend_parse(rr_param_str("backend"));
	int rc;

	if (want < 0)
		return rr_env_error(EINVAL, "cancel_uaf: backend=%s: use auto, io_uring or emulated",
				    rr_param_str("backend"));
	st.work_us = rr_param_int("work_us");
	if (st.work_us < 0)
		return rr_env_error(EINVAL, "cancel_uaf: work_us=%lld must be >= 0", st.work_us);
	st.pin = (int)rr_param_int("pin");
	if (st.pin != 0 && st.pin != 1)
		return rr_env_error(EINVAL, "cancel_uaf: pin=%d: use 0 or 1", st.pin);
	rc = rr_cport_open(&st.port, (enum rr_cport_backend)want);
	if (rc)
		return rc;
	*state = &st;
	return 0;
}

static void cancel_teardown(void *state)
{
	struct cancel_state *st = state;

	rr_cport_close(st->port);
	st->port = NULL;
}

static int cancel_iterate(void *state)
{
	struct cancel_state *st = state;
	struct ipc_conn conn;
	struct ipc_pipe *pipe;
	struct rr_thread *reaper;
	int rc, rc2;

	if (rr_cport_inflight(st->port) != 0)
		return rr_env_error(EBUSY, "cancel_uaf: the port still has %u operations in flight",
				    rr_cport_inflight(st->port));
	rc = conn_open(&conn, st->port);
	if (rc)
		return rc;
	pipe = rr_alloc(sizeof *pipe, "ipc_pipe");
	pipe->conn = &conn;
	pipe->tx_aio.buf = pipe->tx_buf;
	pipe->tx_aio.len = sizeof pipe->tx_buf;
	conn.pin = st->pin;
	/* app keeps its own core: the reaper, born here, moves to its own. */
	rc = conn.pin ? rr_pin_role("app") : 0;
	reaper = rc ? NULL : rr_thread_start("reaper", reaper_main, &conn);
	if (!reaper) {
		rr_free(pipe);
		conn_close(&conn);
		return rc ? rc : -EAGAIN;
	}
	rc = wait_for_reaper(&conn);
	if (rc) {
		rr_thread_join(reaper);
		rr_free(pipe);
		conn_close(&conn);
		return rc;
	}

	rc = ipc_send(&conn, &pipe->tx_aio);
	if (rc == 0)
		rc = ipc_close(&conn);
	/* The rest of the pipe's teardown: the reaper has this long to deliver
	 * the cancelled send before the pipe goes. */
	rr_work_us(st->work_us);
	/* The cancelled completion is queued: the reaper delivering it before
	 * or after this free is the whole race. */
	rr_point("app.free");
	if (RR_FIXED) /* nng#1848: free only after the send's own completion */
		ipc_stop(&conn);
	rr_free(pipe);
	rr_event("freed ipc_pipe and the tx_aio inside it");

	rc2 = rr_cport_post(st->port, cookie(&conn.stop_io));
	if (rc2 == 0)
		rr_thread_join(reaper);
	else if (!rc)
		rc = rc2;
	rc2 = conn_close(&conn);
	return rc ? rc : rc2;
}

static const char *const roles[] = {"app", "reaper", NULL};

static const struct rr_param params[] = {
	{"backend", "auto",
	 "completion port: auto (io_uring, else emulated), io_uring, or emulated (an IOCP-style "
	 "queue that delivers cancelled operations with -ECANCELED)"},
	{"work_us", "5000",
	 "microseconds of pipe teardown app does between cancelling the send and freeing the "
	 "pipe (upstream: the rest of ipc_pipe_close/fini and the hand-off to nng's reap "
	 "thread); the buggy variant fails when the reaper, woken by the cancelled completion, "
	 "takes longer than this to run its callback. With the reaper on a core of its own "
	 "(pin=1) that takes microseconds, so plain looping (--strategy none) needs thousands of "
	 "iterations, as upstream's stress loop needed seconds to minutes; a loaded machine "
	 "delays the reaper more often. Controlled strategies ignore it: use 0 there"},
	{"pin", "1",
	 "1: app and reaper each on a CPU of its own under free-running strategies, as an "
	 "IOCP worker waits on a core the closing thread is not busy on (needs 2 CPUs, else "
	 "ignored); 0: let the kernel place them (the reaper, woken onto app's CPU, then "
	 "waits out app's teardown and the bug fires within a few iterations)"},
	{NULL, NULL, NULL},
};

RR_DEFINE_SCENARIO(cancel_uaf) = {
	.name = "cancel_uaf",
	.upstream = "nanomsg/nng#1837, fixed by nanomsg/nng#1848 (then #1930 / #1956)",
	.summary = "a cancelled send still completes; its callback unlinks an aio from a freed pipe",
	.symptom = "ipc_send_cb: use after free in nni_list_node_remove(&pipe->tx_aio)",
	.roles = roles,
	.variants = rr_variants_buggy_fixed,
	.params = params,
	.setup = cancel_setup,
	.iterate = cancel_iterate,
	.teardown = cancel_teardown,
};
