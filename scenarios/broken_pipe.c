/*
 * broken_pipe: the EventLoop shutdown race of bitcoin-core/libmultiprocess.
 *
 * Upstream: bitcoin/bitcoin#31151 (a node exiting with "mp/proxy.cpp:242:
 * disconnected: write(m_post_fd, &buffer, 1): Broken pipe" once in many CI runs
 * of rpc_misc.py), fixed by bitcoin-core/libmultiprocess#129 (commit 0e4f88d,
 * src/mp/proxy.cpp and include/mp/proxy-io.h).
 *
 * Mapping to upstream:
 *   struct event_loop          mp::EventLoop
 *   loop->wait_fd / post_fd    m_wait_fd / m_post_fd: the two ends of one
 *                              socketpair(AF_UNIX, SOCK_STREAM)
 *   loop->num_clients          m_num_clients
 *   loop->async_fns            m_async_fns (cleanup callbacks)
 *   loop->mutex, loop->cv      m_mutex, m_cv
 *   event_loop_run()           EventLoop::loop() on the `loop` thread
 *   async_thread()             the thread started by startAsyncThread()
 *   remove_client()            EventLoop::removeClient()
 *   loop_done()                EventLoop::done(), added by the fix
 *   destroy_connection()       ~Connection() running on the loop thread
 *
 * The failing interleaving (buggy):
 *
 *   loop                                   async
 *   destroy_connection: queue cleanup,
 *   start async, remove_client 1 -> 0,
 *   write wake-up (cleanup still queued)
 *                                          lock, add client 0 -> 1, pop fn,
 *                                          unlock, run fn, lock,
 *                                          remove_client 1 -> 0, unlock
 *   read wake-up; num_clients == 0 &&
 *   async_fns empty, read WITHOUT the
 *   lock: true, so leave the loop and
 *   close both ends of the socketpair
 *                                          write(post_fd): EPIPE or EBADF
 *
 * The fix: loop_done() evaluates the exit condition only under the lock;
 * remove_client() writes only when loop_done() first becomes true, with the fd
 * copied under the lock, so exactly one final wake-up is sent; the loop
 * evaluates loop_done() under the lock. Invariant: every write to the post fd
 * happens before the loop closes either end, because the loop only exits after
 * reading the final wake-up, which is written after the state that makes
 * loop_done() true.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "racerepro.h"

#define MAX_FNS 8

struct event_loop {
	int wait_fd;
	int post_fd;
	int num_clients;
	int nfns;
	long long fn_work_us[MAX_FNS];
	struct rr_mutex mutex;
	struct rr_cond cv;
	long long wake_us;
};

static int loop_done(const struct event_loop *loop)
{
	return loop->num_clients == 0 && loop->nfns == 0;
}

/* The wake-up byte orders the writer's past before the loop's future, in the
 * kernel where TSan cannot see it: tell TSan, keyed by the loop. */
static void post_wakeup(struct event_loop *loop, int fd)
{
	char buffer = 0;
	rr_handoff_send(loop);
	if (rr_write(fd, &buffer, 1) != 1)
		/* Upstream: KJ_SYSCALL throws, nothing catches it on the async
		 * thread, and the node terminates with this message. */
		rr_bug("disconnected: write(m_post_fd, &buffer, 1): %s", strerror(errno));
}

/* Called with loop->mutex held; returns with it held. */
static void remove_client(struct event_loop *loop)
{
	loop->num_clients--;
	if (RR_BUGGY && loop->num_clients == 0) {
		/* Cause 2: a wake-up as soon as the count drops, although cleanup
		 * work may still be queued. */
		rr_cond_broadcast(&loop->cv);
		rr_mutex_unlock(&loop->mutex);
		/* The window: the count is 0 and the lock is free, but the
		 * wake-up byte is not written yet; the loop may close now. */
		rr_point("remove_client.write_post_fd");
		post_wakeup(loop, loop->post_fd);
		rr_mutex_lock(&loop->mutex);
	}
	if (RR_FIXED && loop_done(loop)) {
		rr_cond_broadcast(&loop->cv);
		int post_fd = loop->post_fd; /* copied under the lock */
		rr_mutex_unlock(&loop->mutex);
		rr_point("remove_client.write_post_fd");
		post_wakeup(loop, post_fd);
		rr_mutex_lock(&loop->mutex);
	}
}

static void *async_thread(void *arg)
{
	struct event_loop *loop = arg;
	rr_mutex_lock(&loop->mutex);
	while (!loop_done(loop)) {
		if (loop->nfns > 0) {
			loop->num_clients++; /* addClient */
			long long work = loop->fn_work_us[--loop->nfns];
			rr_mutex_unlock(&loop->mutex);
			/* A cleanup callback: the loop runs meanwhile. */
			rr_point("async.run_cleanup");
			rr_work_us(work);
			rr_mutex_lock(&loop->mutex);
			rr_point_on("async.remove_client", &loop->num_clients);
			remove_client(loop);
			continue;
		}
		rr_cond_wait(&loop->cv, &loop->mutex);
	}
	rr_mutex_unlock(&loop->mutex);
	return NULL;
}

/* ~Connection() on the loop thread: hands cleanup to the async thread and
 * drops the connection's client reference. */
static struct rr_thread *destroy_connection(struct event_loop *loop, int ncleanup,
					    long long work_us)
{
	rr_mutex_lock(&loop->mutex);
	for (int i = 0; i < ncleanup; i++)
		loop->fn_work_us[loop->nfns++] = work_us;
	rr_mutex_unlock(&loop->mutex);
	struct rr_thread *async = rr_thread_start("async", async_thread, loop);
	if (!async)
		return NULL;
	rr_mutex_lock(&loop->mutex);
	/* Whether the async thread has taken its client reference yet decides
	 * which remove_client drops the count to 0. */
	rr_point_on("loop.remove_client", &loop->num_clients);
	remove_client(loop);
	rr_mutex_unlock(&loop->mutex);
	return async;
}

static void event_loop_run(struct event_loop *loop)
{
	for (;;) {
		char buffer;
		ssize_t n = rr_read(loop->wait_fd, &buffer, 1);
		if (n != 1)
			rr_bug("read(m_wait_fd) returned %zd: %s", n, n < 0 ? strerror(errno) : "EOF");
		rr_handoff_recv(loop);
		rr_work_us(loop->wake_us); /* the wake-up's own work (kj event dispatch) */
		/* Between the wake-up and the exit check, the async thread may be
		 * anywhere in its cleanup. */
		rr_point_on("loop.check_done", &loop->num_clients);
		int done;
		if (RR_BUGGY) {
			/* Cause 1: the exit condition read without the lock. */
			done = loop->num_clients == 0 && loop->nfns == 0;
		} else {
			rr_mutex_lock(&loop->mutex);
			done = loop_done(loop);
			rr_mutex_unlock(&loop->mutex);
		}
		if (done)
			break;
	}
	rr_point("loop.close");
	rr_close(loop->wait_fd);
	rr_close(loop->post_fd);
	loop->wait_fd = loop->post_fd = -1;
}

static int broken_pipe_iterate(void *state)
{
	(void)state;
	struct event_loop loop;
	memset(&loop, 0, sizeof loop);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return rr_env_error(errno, "socketpair: %s", strerror(errno));
	loop.wait_fd = sv[0];
	loop.post_fd = sv[1];
	rr_fd_name(sv[0], "m_wait_fd");
	rr_fd_name(sv[1], "m_post_fd");
	loop.num_clients = 1; /* the connection being destroyed */
	loop.wake_us = rr_param_int("wake_us");
	rr_mutex_init(&loop.mutex, "m_mutex");
	rr_cond_init(&loop.cv, "m_cv");
	int ncleanup = (int)rr_param_int("cleanup_fns");
	if (ncleanup < 1 || ncleanup > MAX_FNS)
		return rr_env_error(EINVAL, "cleanup_fns=%d: must be 1..%d", ncleanup, MAX_FNS);
	struct rr_thread *async = destroy_connection(&loop, ncleanup, rr_param_int("work_us"));
	if (!async) {
		close(sv[0]);
		close(sv[1]);
		return -EAGAIN;
	}
	event_loop_run(&loop);
	rr_thread_join(async);
	rr_cond_destroy(&loop.cv);
	rr_mutex_destroy(&loop.mutex);
	return 0;
}

static const char *const broken_pipe_roles[] = {"loop", "async", NULL};

static const struct rr_param broken_pipe_params[] = {
	{"work_us", "20",
	 "microseconds each cleanup callback works (upstream: destroying a connection's "
	 "server objects)"},
	{"wake_us", "2", "microseconds the loop spends handling each wake-up"},
	{"cleanup_fns", "1", "cleanup callbacks queued by the connection's destructor (1..8)"},
	{NULL, NULL, NULL},
};

RR_DEFINE_SCENARIO(broken_pipe) = {
	.name = "broken_pipe",
	.upstream = "bitcoin-core/libmultiprocess#129 (bitcoin/bitcoin#31151)",
	.summary = "EventLoop shutdown: the async cleanup thread writes a wake-up to a socketpair "
		   "the loop already closed",
	.symptom = "write(m_post_fd, &buffer, 1): Broken pipe (or Bad file descriptor)",
	.roles = broken_pipe_roles,
	.variants = rr_variants_buggy_fixed,
	.params = broken_pipe_params,
	.iterate = broken_pipe_iterate,
};
