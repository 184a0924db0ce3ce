/*
 * cport.c: the completion port of racerepro.h, on real io_uring or on an
 * emulated IOCP-style queue.
 *
 * The contract both backends keep is the one Windows' I/O completion ports
 * and io_uring share: every submitted operation delivers exactly one
 * completion carrying its cookie, also when it was cancelled. Cancelling only
 * changes what that completion says (-ECANCELED, Windows'
 * ERROR_OPERATION_ABORTED); it never makes the completion go away. That is
 * the rule nanomsg/nng#1837 broke, and the port must not soften it.
 *
 * io_uring. recv and send are IORING_OP_RECV/SEND on sockets, which the kernel
 * arms on the socket's wait queue when they cannot complete at once; a cancel
 * (IORING_OP_ASYNC_CANCEL) of such a request completes both requests inside
 * the canceller's io_uring_enter, so under a controlled schedule the order of
 * completions is a function of the schedule alone. The cancel request's own
 * CQE is the port's business: it is skipped by the kernel when the cancel
 * succeeds (IOSQE_CQE_SKIP_SUCCESS) and consumed here otherwise, never
 * returned as an operation's completion. Submissions are serialized by a
 * plain mutex that is never held across a race point or a blocking wrapper,
 * so it cannot stall a controlled schedule and adds no scheduling steps; one
 * thread at a time reaps the CQ.
 *
 * Emulated. Submitted operations sit on a pending list until their fd polls
 * ready (checked with poll() whenever the waiter looks for completions; the
 * I/O itself is then done with MSG_DONTWAIT) or they are cancelled, when they
 * move to the completion queue with -ECANCELED. The waiter blocks in rr_poll
 * on an eventfd that every submit, cancel and post signals plus the pending
 * operations' fds: the real poll(2) when free-running, a parked wait on fd
 * readiness under a controlled strategy. The queues are guarded by an
 * rr_mutex, so a controlled schedule can interleave the port's own steps.
 *
 * TSan. The kernel's hand-off from submitter to reaper is invisible to TSan,
 * so submit and cancel release on the cookie and rr_cport_wait acquires on it
 * (rr_handoff_send/recv). Nothing here outlives a port.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "racerepro_cport.h"
#include "rr_internal.h"

#define URING_ENTRIES 64

enum emu_kind { EMU_RECV, EMU_SEND, EMU_POST };

/* An operation of the emulated port: on the pending list until it completes
 * or is cancelled, then on the completion queue until the waiter takes it. */
struct emu_op {
	struct emu_op *next;
	enum emu_kind kind;
	int fd;
	void *buf;
	size_t len;
	uint64_t user_data;
	int res;
};

struct rr_cport {
	enum rr_cport_backend backend; /* RR_CPORT_URING or RR_CPORT_EMULATED */
	unsigned inflight;             /* submitted, not yet delivered; atomic */

	/* io_uring */
	struct io_uring ring;
	pthread_mutex_t sq_lock;
	int skip_success; /* the kernel supports IOSQE_CQE_SKIP_SUCCESS */

	/* emulated */
	struct rr_mutex lock;
	struct emu_op *pending, **pending_tail;
	struct emu_op *done, **done_tail;
	int wake_fd;
	struct pollfd *pfds; /* the waiter's scratch */
	size_t pfds_cap;
};

static void *key_of(uint64_t user_data)
{
	return (void *)(uintptr_t)user_data;
}

int rr_cport_backend_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcmp(name, "auto"))
		return RR_CPORT_AUTO;
	if (!strcmp(name, "io_uring"))
		return RR_CPORT_URING;
	if (!strcmp(name, "emulated"))
		return RR_CPORT_EMULATED;
	return -1;
}

const char *rr_cport_backend_name(const struct rr_cport *p)
{
	return p->backend == RR_CPORT_URING ? "io_uring" : "emulated";
}

unsigned rr_cport_inflight(const struct rr_cport *p)
{
	return __atomic_load_n(&p->inflight, __ATOMIC_ACQUIRE);
}

static void inflight_add(struct rr_cport *p, int d)
{
	__atomic_add_fetch(&p->inflight, (unsigned)d, __ATOMIC_ACQ_REL);
}

/* ------------------------------------------------------------------------ */
/* io_uring                                                                  */
/* ------------------------------------------------------------------------ */

/* kernel.io_uring_disabled: 0 allowed, 1 only for io_uring_group, 2 never.
 * A kernel without the file predates the knob and allows io_uring. */
static int uring_sysctl_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	int v = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* Sets up the ring. Returns 0; or -errno with WHY saying what failed, and
 * *FALLBACK set when the failure means "no io_uring here" (the emulated port
 * may stand in) rather than a broken environment. */
static int uring_open(struct rr_cport *p, char *why, size_t whylen, int *fallback)
{
	static const int needed[] = {IORING_OP_RECV, IORING_OP_SEND, IORING_OP_ASYNC_CANCEL,
				     IORING_OP_NOP};
	static const char *const needed_names[] = {"IORING_OP_RECV", "IORING_OP_SEND",
						   "IORING_OP_ASYNC_CANCEL", "IORING_OP_NOP"};
	struct io_uring_params params;
	struct io_uring_probe *probe;
	int rc;

	*fallback = 0;
	if (uring_sysctl_disabled() == 2) {
		snprintf(why, whylen, "kernel.io_uring_disabled=2");
		*fallback = 1;
		return -EPERM;
	}
	memset(&params, 0, sizeof params);
	rc = io_uring_queue_init_params(URING_ENTRIES, &p->ring, &params);
	if (rc < 0) {
		snprintf(why, whylen, "io_uring_queue_init: %s", strerror(-rc));
		*fallback = rc == -ENOSYS || rc == -EPERM;
		return rc;
	}
	probe = io_uring_get_probe_ring(&p->ring);
	if (!probe) {
		snprintf(why, whylen, "io_uring_get_probe_ring failed (kernel before 5.6)");
		*fallback = 1;
		io_uring_queue_exit(&p->ring);
		return -ENOSYS;
	}
	for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
		if (!io_uring_opcode_supported(probe, needed[i])) {
			snprintf(why, whylen, "kernel lacks %s", needed_names[i]);
			*fallback = 1;
			io_uring_free_probe(probe);
			io_uring_queue_exit(&p->ring);
			return -ENOSYS;
		}
	}
	io_uring_free_probe(probe);
	p->skip_success = (params.features & IORING_FEAT_CQE_SKIP) != 0;
	rc = pthread_mutex_init(&p->sq_lock, NULL);
	if (rc) {
		snprintf(why, whylen, "pthread_mutex_init: %s", strerror(rc));
		io_uring_queue_exit(&p->ring);
		return -rc;
	}
	return 0;
}

static void sq_unlock(struct rr_cport *p)
{
	int rc = pthread_mutex_unlock(&p->sq_lock);
	if (rc)
		rr_env_error(rc, "cport: pthread_mutex_unlock: %s", strerror(rc));
}

/* Queues one SQE and submits it. The SQ is flushed on every call, so it is
 * never full; the lock only keeps two submitters off the same SQ tail. */
static int uring_push(struct rr_cport *p, int opcode, int fd, void *buf, size_t len,
		      uint64_t target, uint64_t user_data)
{
	struct io_uring_sqe *sqe;
	int rc;

	rc = pthread_mutex_lock(&p->sq_lock);
	if (rc)
		return rr_env_error(rc, "cport: pthread_mutex_lock: %s", strerror(rc));
	sqe = io_uring_get_sqe(&p->ring);
	if (!sqe) {
		sq_unlock(p);
		return rr_env_error(EBUSY, "cport: io_uring submission queue full");
	}
	switch (opcode) {
	case IORING_OP_RECV:
		io_uring_prep_recv(sqe, fd, buf, len, 0);
		break;
	case IORING_OP_SEND:
		io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
		break;
	case IORING_OP_ASYNC_CANCEL:
		io_uring_prep_cancel64(sqe, target, 0);
		if (p->skip_success)
			sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		break;
	default:
		io_uring_prep_nop(sqe);
		break;
	}
	io_uring_sqe_set_data64(sqe, user_data);
	do
		rc = io_uring_submit(&p->ring);
	while (rc == -EINTR);
	sq_unlock(p);
	if (rc < 0)
		return rr_env_error(-rc, "cport: io_uring_submit: %s", strerror(-rc));
	if (rc != 1)
		return rr_env_error(EIO, "cport: io_uring_submit took %d of 1 requests", rc);
	return 0;
}

/* The wait predicate under a controlled strategy: is an operation's CQE (not
 * a cancel request's) waiting? Reads the ring only; runs on whichever thread
 * schedules, so both indices are read atomically. */
static int uring_ready(void *arg)
{
	const struct rr_cport *p = arg;
	unsigned head = __atomic_load_n(p->ring.cq.khead, __ATOMIC_ACQUIRE);
	unsigned tail = __atomic_load_n(p->ring.cq.ktail, __ATOMIC_ACQUIRE);

	for (; head != tail; head++)
		if (p->ring.cq.cqes[head & p->ring.cq.ring_mask].user_data !=
		    RR_CPORT_RESERVED_USER_DATA)
			return 1;
	return 0;
}

static int uring_wait(struct rr_cport *p, struct rr_completion *out)
{
	struct io_uring_cqe *cqe;
	uint64_t user_data;
	int rc, res;

	for (;;) {
		if (rr_controlled()) {
			/* Never block in the kernel holding the run token: park
			 * until the schedule has made a completion ready. */
			rr_wait_until(uring_ready, p, "cport completion", 0);
			rc = io_uring_peek_cqe(&p->ring, &cqe);
		} else {
			rc = io_uring_wait_cqe(&p->ring, &cqe);
		}
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc < 0)
			return rr_env_error(-rc, "cport: io_uring_wait_cqe: %s", strerror(-rc));
		user_data = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(&p->ring, cqe);
		if (user_data == RR_CPORT_RESERVED_USER_DATA)
			continue; /* a cancel request's own CQE: nothing to deliver */
		break;
	}
	inflight_add(p, -1);
	rr_handoff_recv(key_of(user_data));
	out->user_data = user_data;
	out->res = res;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Emulated                                                                  */
/* ------------------------------------------------------------------------ */

static int emu_open(struct rr_cport *p)
{
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->wake_fd < 0)
		return rr_env_error(errno, "cport: eventfd: %s", strerror(errno));
	rr_fd_name(p->wake_fd, "cport wake-up");
	rr_mutex_init(&p->lock, "cport");
	p->pending_tail = &p->pending;
	p->done_tail = &p->done;
	return 0;
}

/* Tells the waiter that the queues changed, so it looks again. */
static int emu_wake(struct rr_cport *p)
{
	uint64_t one = 1;
	if (write(p->wake_fd, &one, sizeof one) != (ssize_t)sizeof one && errno != EAGAIN)
		return rr_env_error(errno, "cport: write(eventfd): %s", strerror(errno));
	return 0;
}

static void emu_complete_locked(struct rr_cport *p, struct emu_op *op, int res)
{
	op->res = res;
	op->next = NULL;
	*p->done_tail = op;
	p->done_tail = &op->next;
}

static int emu_submit(struct rr_cport *p, enum emu_kind kind, int fd, void *buf, size_t len,
		      uint64_t user_data)
{
	struct emu_op *op = calloc(1, sizeof *op);
	if (!op)
		return rr_env_error(ENOMEM, "cport: out of memory");
	op->kind = kind;
	op->fd = fd;
	op->buf = buf;
	op->len = len;
	op->user_data = user_data;
	inflight_add(p, 1);
	rr_mutex_lock(&p->lock);
	if (kind == EMU_POST) {
		emu_complete_locked(p, op, 0);
	} else {
		*p->pending_tail = op;
		p->pending_tail = &op->next;
	}
	rr_mutex_unlock(&p->lock);
	return emu_wake(p);
}

static int emu_cancel(struct rr_cport *p, uint64_t user_data)
{
	struct emu_op **pp, *op = NULL;

	rr_mutex_lock(&p->lock);
	for (pp = &p->pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->user_data == user_data) {
			op = *pp;
			*pp = op->next;
			if (p->pending_tail == &op->next)
				p->pending_tail = pp;
			emu_complete_locked(p, op, -ECANCELED);
			break;
		}
	}
	rr_mutex_unlock(&p->lock);
	/* Not found: it completed already, and its completion stands. */
	return op ? emu_wake(p) : 0;
}

/* Makes room for N pollfds in the waiter's scratch array. */
static int emu_reserve(struct rr_cport *p, size_t n)
{
	if (n <= p->pfds_cap)
		return 0;
	struct pollfd *a = realloc(p->pfds, n * sizeof *a);
	if (!a)
		return rr_env_error(ENOMEM, "cport: out of memory");
	p->pfds = a;
	p->pfds_cap = n;
	return 0;
}

/* With the lock held: polls the pending operations' fds without waiting and
 * does the I/O of every one that is ready; those that did not hit EAGAIN move
 * to the completion queue, in submission order. */
static int emu_harvest_locked(struct rr_cport *p)
{
	struct emu_op **pp, *op;
	size_t n = 0, i;
	int rc;

	for (op = p->pending; op; op = op->next)
		n++;
	if (n == 0)
		return 0;
	rc = emu_reserve(p, n + 1);
	if (rc)
		return rc;
	for (op = p->pending, i = 0; op; op = op->next, i++) {
		p->pfds[i].fd = op->fd;
		p->pfds[i].events = op->kind == EMU_RECV ? POLLIN : POLLOUT;
		p->pfds[i].revents = 0;
	}
	if (poll(p->pfds, (nfds_t)n, 0) < 0)
		return rr_env_error(errno, "cport: poll: %s", strerror(errno));
	for (pp = &p->pending, i = 0; (op = *pp) != NULL; i++) {
		short rev = p->pfds[i].revents;
		ssize_t got;
		int res;

		if (!rev) {
			pp = &op->next;
			continue;
		}
		if (rev & POLLNVAL) {
			res = -EBADF;
		} else {
			if (op->kind == EMU_RECV)
				got = recv(op->fd, op->buf, op->len, MSG_DONTWAIT);
			else
				got = send(op->fd, op->buf, op->len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
				pp = &op->next; /* spurious readiness: still pending */
				continue;
			}
			res = got < 0 ? -errno : (int)got;
		}
		*pp = op->next;
		if (p->pending_tail == &op->next)
			p->pending_tail = pp;
		emu_complete_locked(p, op, res);
	}
	return 0;
}

static int emu_wait(struct rr_cport *p, struct rr_completion *out)
{
	struct emu_op *op;
	size_t n;
	int rc;

	rr_mutex_lock(&p->lock);
	for (;;) {
		rc = emu_harvest_locked(p);
		if (rc) {
			rr_mutex_unlock(&p->lock);
			return rc;
		}
		if (p->done)
			break;
		/* Nothing yet: sleep on the wake-up eventfd and the pending fds.
		 * Polled unlocked, so a canceller or submitter can get in; the
		 * eventfd makes sure the waiter then looks again. */
		n = 1;
		for (op = p->pending; op; op = op->next)
			n++;
		if (rr_controlled() && n > RR_MAX_FDS)
			n = RR_MAX_FDS; /* the rest is looked at on every wake-up */
		rc = emu_reserve(p, n);
		if (rc) {
			rr_mutex_unlock(&p->lock);
			return rc;
		}
		p->pfds[0].fd = p->wake_fd;
		p->pfds[0].events = POLLIN;
		p->pfds[0].revents = 0;
		op = p->pending;
		for (size_t i = 1; i < n; i++, op = op->next) {
			p->pfds[i].fd = op->fd;
			p->pfds[i].events = op->kind == EMU_RECV ? POLLIN : POLLOUT;
			p->pfds[i].revents = 0;
		}
		rr_mutex_unlock(&p->lock);
		if (rr_poll(p->pfds, (nfds_t)n, -1) < 0 && errno != EINTR)
			return rr_env_error(errno, "cport: poll: %s", strerror(errno));
		if (p->pfds[0].revents & POLLIN) {
			uint64_t v;
			if (read(p->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
				return rr_env_error(errno, "cport: read(eventfd): %s",
						    strerror(errno));
		}
		rr_mutex_lock(&p->lock);
	}
	op = p->done;
	p->done = op->next;
	if (!p->done)
		p->done_tail = &p->done;
	rr_mutex_unlock(&p->lock);
	inflight_add(p, -1);
	rr_handoff_recv(key_of(op->user_data));
	out->user_data = op->user_data;
	out->res = op->res;
	free(op);
	return 0;
}

static void emu_close(struct rr_cport *p)
{
	struct emu_op *op;

	while ((op = p->pending) != NULL) {
		p->pending = op->next;
		free(op);
	}
	while ((op = p->done) != NULL) {
		p->done = op->next;
		free(op);
	}
	free(p->pfds);
	rr_fd_name(p->wake_fd, "");
	if (close(p->wake_fd) < 0)
		fprintf(stderr, "racerepro: cport: close(eventfd): %s\n", strerror(errno));
	rr_mutex_destroy(&p->lock);
}

/* ------------------------------------------------------------------------ */
/* The public API                                                            */
/* ------------------------------------------------------------------------ */

int rr_cport_open(struct rr_cport **out, enum rr_cport_backend want)
{
	struct rr_cport *p;
	char why[160] = "";
	int rc, fallback = 0;

	*out = NULL;
	p = calloc(1, sizeof *p);
	if (!p)
		return rr_env_error(ENOMEM, "cport: out of memory");
	p->wake_fd = -1;
	if (want != RR_CPORT_EMULATED) {
		rc = uring_open(p, why, sizeof why, &fallback);
		if (rc == 0) {
			struct utsname u;
			p->backend = RR_CPORT_URING;
			if (uname(&u) == 0)
				rr_env_note("backend", "io_uring (Linux %s)", u.release);
			else
				rr_env_note("backend", "io_uring");
			*out = p;
			return 0;
		}
		if (want == RR_CPORT_URING && fallback) {
			/* Asked for by name and missing here: a skip, not a
			 * failure of the environment. */
			free(p);
			return rr_skip("io_uring unavailable: %s", why);
		}
		if (!fallback) {
			free(p);
			return rr_env_error(-rc, "cport: %s", why);
		}
	}
	rc = emu_open(p);
	if (rc) {
		free(p);
		return rc;
	}
	p->backend = RR_CPORT_EMULATED;
	if (want == RR_CPORT_EMULATED)
		rr_env_note("backend", "emulated (asked for)");
	else
		rr_env_note("backend", "emulated (%s)", why);
	*out = p;
	return 0;
}

static const char *kind_name(enum emu_kind kind)
{
	return kind == EMU_RECV ? "recv" : kind == EMU_SEND ? "send" : "post";
}

static int check_cookie(uint64_t user_data)
{
	if (user_data == RR_CPORT_RESERVED_USER_DATA)
		return rr_env_error(EINVAL, "cport: user_data %#llx is reserved",
				    (unsigned long long)user_data);
	return 0;
}

/* Counts the operation before it can complete (the waiter may reap it before
 * the submit returns) and takes the count back if it was never submitted. */
static int submit_op(struct rr_cport *p, int opcode, enum emu_kind kind, int fd, void *buf,
		     size_t len, uint64_t user_data)
{
	int rc = check_cookie(user_data);
	if (rc)
		return rc;
	rr_handoff_send(key_of(user_data));
	if (kind == EMU_POST)
		rr_event("cport: post queued");
	else
		rr_event("cport: %s submitted (fd %d)", kind_name(kind), fd);
	if (p->backend == RR_CPORT_EMULATED)
		return emu_submit(p, kind, fd, buf, len, user_data);
	inflight_add(p, 1);
	rc = uring_push(p, opcode, fd, buf, len, 0, user_data);
	if (rc)
		inflight_add(p, -1);
	return rc;
}

int rr_cport_recv(struct rr_cport *p, int fd, void *buf, size_t len, uint64_t user_data)
{
	return submit_op(p, IORING_OP_RECV, EMU_RECV, fd, buf, len, user_data);
}

int rr_cport_send(struct rr_cport *p, int fd, const void *buf, size_t len, uint64_t user_data)
{
	/* The port never writes through BUF for a send. */
	return submit_op(p, IORING_OP_SEND, EMU_SEND, fd, (void *)(uintptr_t)buf, len, user_data);
}

int rr_cport_post(struct rr_cport *p, uint64_t user_data)
{
	return submit_op(p, IORING_OP_NOP, EMU_POST, -1, NULL, 0, user_data);
}

int rr_cport_cancel(struct rr_cport *p, uint64_t user_data)
{
	int rc = check_cookie(user_data);
	if (rc)
		return rc;
	/* The cancelled completion is caused by this call: what the canceller
	 * did before it is visible to the callback that runs on -ECANCELED. */
	rr_handoff_send(key_of(user_data));
	rr_event("cport: cancel requested");
	if (p->backend == RR_CPORT_EMULATED)
		return emu_cancel(p, user_data);
	return uring_push(p, IORING_OP_ASYNC_CANCEL, -1, NULL, 0, user_data,
			  RR_CPORT_RESERVED_USER_DATA);
}

int rr_cport_wait(struct rr_cport *p, struct rr_completion *out)
{
	int rc = p->backend == RR_CPORT_EMULATED ? emu_wait(p, out) : uring_wait(p, out);
	if (rc == 0) {
		const char *name = out->res < 0 ? strerrorname_np(-out->res) : NULL;
		if (name)
			rr_event("cport: completion res=-%s", name);
		else
			rr_event("cport: completion res=%d", out->res);
	}
	return rc;
}

void rr_cport_close(struct rr_cport *p)
{
	int rc;

	if (!p)
		return;
	if (p->backend == RR_CPORT_EMULATED) {
		emu_close(p);
	} else {
		io_uring_queue_exit(&p->ring);
		rc = pthread_mutex_destroy(&p->sq_lock);
		if (rc)
			fprintf(stderr, "racerepro: cport: pthread_mutex_destroy: %s\n",
				strerror(rc));
	}
	free(p);
}
