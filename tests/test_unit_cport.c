/*
 * test_unit_cport.c: the completion port (harness/cport.c) on its own, both
 * backends, free-running (no scheduler: the calls go straight to the kernel,
 * as they do under --strategy none).
 *
 * The contract under test is the one nng#1837 broke: every submitted
 * operation delivers exactly one completion with its cookie, also when it is
 * cancelled (-ECANCELED), and a cancel that comes too late leaves the normal
 * completion alone. Also: completions of operations whose fd becomes ready
 * from another thread, posts, FIFO order of completions that are ready
 * together, the in-flight count, the reserved cookie and backend names.
 *
 * Sockets only (socketpairs): their io_uring operations complete inline or
 * through poll wake-ups, never on io-wq's own time, so nothing here waits on
 * timing. The one cross-thread case joins its writer before asserting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "racerepro_cport.h"
#include "rr_internal.h"
#include "testlib.h"

struct fixture {
	struct rr_cport *port;
	int sv[2];
	char cookies[8]; /* their addresses are the operations' cookies */
};

static uint64_t cookie(struct fixture *f, int i)
{
	return (uint64_t)(uintptr_t)&f->cookies[i];
}

static int open_backend(struct fixture *f, enum rr_cport_backend want)
{
	memset(f, 0, sizeof(*f));
	if (rr_cport_open(&f->port, want) != 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f->sv) < 0)
		fail_msg("socketpair: %s", strerror(errno));
	return 0;
}

/* Without io_uring (a seccomp profile, kernel.io_uring_disabled) the
 * io_uring cases skip; the emulated port must always work. */
static int setup_uring(void **state)
{
	static struct fixture f;
	*state = open_backend(&f, RR_CPORT_URING) == 0 ? &f : NULL;
	return 0;
}

static int setup_emulated(void **state)
{
	static struct fixture f;
	if (open_backend(&f, RR_CPORT_EMULATED) != 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (!f)
		return 0;
	assert_int_equal(rr_cport_inflight(f->port), 0);
	rr_cport_close(f->port);
	close(f->sv[0]);
	close(f->sv[1]);
	return 0;
}

/* Fills SV[0]'s send buffer so that a send on it stays pending. */
static void fill(struct fixture *f)
{
	static const char junk[16384];
	int small = 4096;
	assert_int_equal(setsockopt(f->sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	while (send(f->sv[0], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static struct rr_completion next(struct fixture *f)
{
	struct rr_completion c;
	assert_int_equal(rr_cport_wait(f->port, &c), 0);
	return c;
}

/* A post after the operations under test: when it is the next completion,
 * nothing else (no duplicate, no cancel request's own CQE) came out. */
static void expect_nothing_more(struct fixture *f)
{
	assert_int_equal(rr_cport_post(f->port, cookie(f, 7)), 0);
	struct rr_completion c = next(f);
	assert_true(c.user_data == cookie(f, 7));
	assert_int_equal(c.res, 0);
}

static void test_recv_of_ready_data_completes(void **state)
{
	struct fixture *f = *state;

	if (!f)
		skip();
	char buf[16] = {0};

	assert_int_equal(write(f->sv[1], "hello", 5), 5);
	assert_int_equal(rr_cport_recv(f->port, f->sv[0], buf, sizeof(buf), cookie(f, 0)), 0);
	struct rr_completion c = next(f);
	assert_true(c.user_data == cookie(f, 0));
	assert_int_equal(c.res, 5);
	assert_memory_equal(buf, "hello", 5);
	expect_nothing_more(f);
}

static void test_cancelled_send_still_completes_once(void **state)
{
	struct fixture *f = *state;

	if (!f)
		skip();
	static const char msg[64];

	fill(f);
	assert_int_equal(rr_cport_send(f->port, f->sv[0], msg, sizeof(msg), cookie(f, 1)), 0);
	assert_int_equal(rr_cport_inflight(f->port), 1);
	assert_int_equal(rr_cport_cancel(f->port, cookie(f, 1)), 0);
	struct rr_completion c = next(f);
	assert_true(c.user_data == cookie(f, 1));
	assert_int_equal(c.res, -ECANCELED);
	assert_int_equal(rr_cport_inflight(f->port), 0);
	expect_nothing_more(f);
}

static void test_cancelled_recv_still_completes_once(void **state)
{
	struct fixture *f = *state;

	if (!f)
		skip();
	char buf[8];

	assert_int_equal(rr_cport_recv(f->port, f->sv[0], buf, sizeof(buf), cookie(f, 2)), 0);
	assert_int_equal(rr_cport_cancel(f->port, cookie(f, 2)), 0);
	struct rr_completion c = next(f);
	assert_true(c.user_data == cookie(f, 2));
	assert_int_equal(c.res, -ECANCELED);
	expect_nothing_more(f);
}

/* The operation won: cancelling afterwards changes nothing, and its normal
 * completion is the only one. */
static void test_late_cancel_leaves_the_normal_completion(void **state)
{
	struct fixture *f = *state;

	if (!f)
		skip();
	char buf[8] = {0};

	assert_int_equal(write(f->sv[1], "x", 1), 1);
	assert_int_equal(rr_cport_recv(f->port, f->sv[0], buf, sizeof(buf), cookie(f, 3)), 0);
	struct rr_completion c = next(f);
	assert_int_equal(c.res, 1);
	assert_int_equal(rr_cport_cancel(f->port, cookie(f, 3)), 0);
	expect_nothing_more(f);
}

static void *write_later(void *arg)
{
	struct fixture *f = arg;
	if (write(f->sv[1], "late", 4) != 4)
		return (void *)(intptr_t)errno;
	return NULL;
}

/* A pending recv completes when another thread makes its fd ready: the
 * waiter blocks (io_uring_wait_cqe, or poll() on the emulated port). */
static void test_pending_recv_completes_when_peer_writes(void **state)
{
	struct fixture *f = *state;

	if (!f)
		skip();
	char buf[8] = {0};
	pthread_t t;
	void *ret;

	assert_int_equal(rr_cport_recv(f->port, f->sv[0], buf, sizeof(buf), cookie(f, 4)), 0);
	assert_int_equal(pthread_create(&t, NULL, write_later, f), 0);
	struct rr_completion c = next(f);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	assert_true(c.user_data == cookie(f, 4));
	assert_int_equal(c.res, 4);
	assert_memory_equal(buf, "late", 4);
	expect_nothing_more(f);
}

/* Completions that are ready together come out in the order they became
 * ready: the cancelled send, then the post made after the cancel. */
static void test_completions_in_order(void **state)
{
	struct fixture *f = *state;

	if (!f)
		skip();
	static const char msg[8];

	fill(f);
	assert_int_equal(rr_cport_send(f->port, f->sv[0], msg, sizeof(msg), cookie(f, 5)), 0);
	assert_int_equal(rr_cport_cancel(f->port, cookie(f, 5)), 0);
	assert_int_equal(rr_cport_post(f->port, cookie(f, 6)), 0);
	assert_int_equal(rr_cport_inflight(f->port), 2);
	struct rr_completion a = next(f), b = next(f);
	assert_true(a.user_data == cookie(f, 5));
	assert_int_equal(a.res, -ECANCELED);
	assert_true(b.user_data == cookie(f, 6));
	assert_int_equal(b.res, 0);
}

static void test_reserved_cookie_is_refused(void **state)
{
	struct fixture *f = *state;

	if (!f)
		skip();
	char buf[1];

	assert_int_equal(rr_cport_recv(f->port, f->sv[0], buf, 1, RR_CPORT_RESERVED_USER_DATA),
			 -EINVAL);
	assert_int_equal(rr_cport_post(f->port, RR_CPORT_RESERVED_USER_DATA), -EINVAL);
	assert_int_equal(rr_cport_inflight(f->port), 0);
}

static void test_backend_names(void **state)
{
	(void)state;
	struct rr_cport *p;

	assert_int_equal(rr_cport_backend_parse("auto"), RR_CPORT_AUTO);
	assert_int_equal(rr_cport_backend_parse("io_uring"), RR_CPORT_URING);
	assert_int_equal(rr_cport_backend_parse("emulated"), RR_CPORT_EMULATED);
	assert_int_equal(rr_cport_backend_parse("iocp"), -1);
	assert_int_equal(rr_cport_backend_parse(NULL), -1);
	assert_int_equal(rr_cport_open(&p, RR_CPORT_EMULATED), 0);
	assert_string_equal(rr_cport_backend_name(p), "emulated");
	rr_cport_close(p);
	assert_int_equal(rr_cport_open(&p, RR_CPORT_AUTO), 0);
	const char *name = rr_cport_backend_name(p);
	assert_true(!strcmp(name, "io_uring") || !strcmp(name, "emulated"));
	rr_cport_close(p);
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_setup_teardown(fn, setup_uring, teardown),                                \
	    cmocka_unit_test_setup_teardown(fn, setup_emulated, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_recv_of_ready_data_completes),
		BOTH(test_cancelled_send_still_completes_once),
		BOTH(test_cancelled_recv_still_completes_once),
		BOTH(test_late_cancel_leaves_the_normal_completion),
		BOTH(test_pending_recv_completes_when_peer_writes),
		BOTH(test_completions_in_order),
		BOTH(test_reserved_cookie_is_refused),
		cmocka_unit_test(test_backend_names),
	};
	RRT_MAIN(tests);
}
