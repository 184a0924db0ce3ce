/*
 * test_unit_lifetime.c: the quarantine oracle (harness/lifetime.c) in the
 * plain build: allocation, poisoning, use-after-free by rr_touch, writes into
 * freed memory found at eviction and at iteration end, double frees, and that
 * nothing fires on correct use. rr_bug ends the process, so each case that
 * expects a finding runs in a forked child with a worker status page shared
 * with the parent, the way the driver runs a worker, and the parent checks
 * the exit code and the recorded message.
 *
 * The last case builds a small TSan program from harness/lifetime.c (with
 * stubs for the rest of the harness) and checks the two promises lifetime.c
 * makes to TSan: its own bookkeeping is never reported, and its lock creates
 * no happens-before edge that would hide a real race between two threads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rr_internal.h"
#include "testlib.h"

struct child_result {
	int exit_code; /* -1 when killed by a signal */
	int signal;
	char message[RR_MSG];
};

/* Runs FN in a forked child that looks like a worker to rr_bug: findings
 * are recorded in shared memory and end the child with RR_WEXIT_BUG. */
static void run_child(void (*fn)(void), struct child_result *res)
{
	struct rr__worker_shm *w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE,
					MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(w != MAP_FAILED);
	memset(w, 0, sizeof(*w));
	w->finding = RR_PASS;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		rr__ctx.shm = w;
		rr__ctx.in_process = 0;
		fn();
		_exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	res->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	res->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
	snprintf(res->message, sizeof(res->message), "%s", w->message);
	munmap(w, sizeof(*w));
}

static void expect_bug(void (*fn)(void), const char *needle1, const char *needle2)
{
	struct child_result r;

	run_child(fn, &r);
	if (r.exit_code != RR_WEXIT_BUG || !strstr(r.message, needle1) ||
	    (needle2 && !strstr(r.message, needle2)))
		fail_msg("expected a bug with '%s'%s%s, got exit %d signal %d message '%s'",
			 needle1, needle2 ? " and " : "", needle2 ? needle2 : "", r.exit_code,
			 r.signal, r.message);
}

static void expect_clean(void (*fn)(void))
{
	struct child_result r;

	run_child(fn, &r);
	if (r.exit_code != 0)
		fail_msg("expected no finding, got exit %d signal %d message '%s'", r.exit_code,
			 r.signal, r.message);
}

/* ---- correct use ---------------------------------------------------------- */

static void child_correct_use(void)
{
	unsigned char *p[400];

	for (int i = 0; i < 400; i++) {
		p[i] = rr_alloc((size_t)i + 1, "thing");
		if (!p[i] || ((uintptr_t)p[i] & 15))
			_exit(10);
		for (int j = 0; j <= i; j++)
			if (p[i][j] != 0)
				_exit(11);
		memset(p[i], 0x5a, (size_t)i + 1);
		rr_touch(p[i], "live access");
	}
	/* More frees than the quarantine holds: eviction checks clean poison. */
	for (int i = 0; i < 400; i++)
		rr_free(p[i]);
	rr_free(NULL);
	rr_touch(NULL, "null");
	rr__lifetime_iteration_end();
	/* An empty quarantine is fine too. */
	rr__lifetime_iteration_end();
	/* Zero-sized objects are objects. */
	void *z = rr_alloc(0, "empty");
	if (!z)
		_exit(12);
	rr_free(z);
	rr__lifetime_iteration_end();
}

static void test_correct_use_is_silent(void **state)
{
	(void)state;
	expect_clean(child_correct_use);
}

/* ---- use after free --------------------------------------------------------- */

static void child_touch_after_free(void)
{
	void *q = rr_alloc(328, "nvmf_rdma_qpair");
	rr_free(q);
	rr_touch(q, "write of last_wqe_reached_ctx");
}

static void test_touch_after_free(void **state)
{
	(void)state;
	expect_bug(child_touch_after_free, "heap-use-after-free: write of last_wqe_reached_ctx",
		   "nvmf_rdma_qpair (328 bytes");
}

static void child_poison_changed_at_iteration_end(void)
{
	uint64_t *q = rr_alloc(64, "ipc_pipe");
	rr_free(q);
	q[3] = 0; /* an unannounced write into freed memory */
	rr__lifetime_iteration_end();
}

static void test_write_into_freed_found_at_iteration_end(void **state)
{
	(void)state;
	expect_bug(child_poison_changed_at_iteration_end, "write into freed ipc_pipe",
		   "byte 24 is 0x00");
}

static void child_poison_changed_found_at_eviction(void)
{
	unsigned char *first = rr_alloc(16, "first");
	rr_free(first);
	first[15] = 1;
	/* Push the first object out of the quarantine (256 entries). */
	for (int i = 0; i < 300; i++)
		rr_free(rr_alloc(8, "filler"));
	_exit(13); /* not reached if eviction checked */
}

static void test_write_into_freed_found_at_eviction(void **state)
{
	(void)state;
	expect_bug(child_poison_changed_found_at_eviction, "write into freed first", "byte 15");
}

static void child_big_object(void)
{
	size_t sz = (size_t)5 << 20; /* larger than the whole quarantine */
	unsigned char *big = rr_alloc(sz, "big");
	if (!big)
		_exit(14);
	rr_free(big); /* checked and released at once: clean */
	unsigned char *small = rr_alloc(32, "small");
	rr_free(small);
	rr_touch(small, "late read");
}

static void test_big_object_and_touch(void **state)
{
	(void)state;
	expect_bug(child_big_object, "late read of small", NULL);
}

static void child_double_free(void)
{
	void *p = rr_alloc(40, "event_ctx");
	rr_free(p);
	rr_free(p);
}

static void test_double_free(void **state)
{
	(void)state;
	expect_bug(child_double_free, "double free: event_ctx", NULL);
}

/* ---- across threads ---------------------------------------------------------- */

static void *free_it(void *p)
{
	rr_free(p);
	return NULL;
}

static void child_cross_thread(void)
{
	pthread_t t;
	void *p = rr_alloc(100, "conn");

	if (pthread_create(&t, NULL, free_it, p) || pthread_join(t, NULL))
		_exit(15);
	rr_touch(p, "timer handler read");
}

static void test_free_on_one_thread_touch_on_another(void **state)
{
	(void)state;
	expect_bug(child_cross_thread, "timer handler read of conn (100 bytes", NULL);
}

/* ---- TSan: no reports from lifetime.c, no hidden races ---------------------------- */

static const char tsan_probe[] =
	"#include <pthread.h>\n"
	"#include <stdio.h>\n"
	"#include <stdlib.h>\n"
	"#include <string.h>\n"
	"#include \"rr_internal.h\"\n"
	"struct rr__context rr__ctx;\n"
	"const char *rr_role(void) { return \"?\"; }\n"
	"void rr_bug(const char *fmt, ...) { (void)fmt; fputs(\"RR_BUG\\n\", stderr); _Exit(65); }\n"
	"int rr_env_error(int err, const char *fmt, ...) { (void)fmt; return -err; }\n"
	"void rr__fatal(const char *fmt, ...) { (void)fmt; _Exit(68); }\n"
	"static int counter;\n"
	"static int flag;\n"
	"static void *shared;\n"
	"static void *first(void *a) {\n"
	"	(void)a;\n"
	"	counter++;\n"
	"	rr_free(rr_alloc(24, \"a\"));\n"
	"	/* relaxed: no happens-before; only lifetime.c's lock could add one */\n"
	"	__atomic_store_n(&flag, 1, __ATOMIC_RELAXED);\n"
	"	return NULL;\n"
	"}\n"
	"static void *second(void *a) {\n"
	"	(void)a;\n"
	"	while (!__atomic_load_n(&flag, __ATOMIC_RELAXED))\n"
	"		;\n"
	"	rr_free(rr_alloc(24, \"b\"));\n"
	"	counter++;\n"
	"	return NULL;\n"
	"}\n"
	"static void *owner(void *a) {\n"
	"	(void)a;\n"
	"	unsigned char *p;\n"
	"	while (!(p = __atomic_load_n((unsigned char **)&shared, __ATOMIC_ACQUIRE)))\n"
	"		;\n"
	"	rr_touch(p, \"check\");\n"
	"	p[1] = 2;\n"
	"	rr_free(p);\n"
	"	return NULL;\n"
	"}\n"
	"static void *churn(void *a) {\n"
	"	(void)a;\n"
	"	for (int i = 0; i < 1000; i++) {\n"
	"		unsigned char *q = rr_alloc((size_t)i + 1, \"x\");\n"
	"		q[0] = 1;\n"
	"		rr_touch(q, \"live\");\n"
	"		rr_free(q);\n"
	"	}\n"
	"	return NULL;\n"
	"}\n"
	"int main(int argc, char **argv) {\n"
	"	pthread_t a, b, c;\n"
	"	if (argc > 1 && !strcmp(argv[1], \"race\")) {\n"
	"		pthread_create(&a, NULL, first, NULL);\n"
	"		pthread_create(&b, NULL, second, NULL);\n"
	"		pthread_join(a, NULL);\n"
	"		pthread_join(b, NULL);\n"
	"		rr__lifetime_iteration_end();\n"
	"		return 0;\n"
	"	}\n"
	"	/* allocated here, handed over with release/acquire, written, freed\n"
	"	 * there, evicted by whichever thread frees later: all correct */\n"
	"	pthread_create(&a, NULL, owner, NULL);\n"
	"	pthread_create(&b, NULL, churn, NULL);\n"
	"	pthread_create(&c, NULL, churn, NULL);\n"
	"	unsigned char *p = rr_alloc(64, \"obj\");\n"
	"	p[0] = 1;\n"
	"	__atomic_store_n((unsigned char **)&shared, p, __ATOMIC_RELEASE);\n"
	"	churn(NULL);\n"
	"	pthread_join(a, NULL);\n"
	"	pthread_join(b, NULL);\n"
	"	pthread_join(c, NULL);\n"
	"	rr__lifetime_iteration_end();\n"
	"	return 0;\n"
	"}\n";

static void test_tsan_sees_through_the_quarantine(void **state)
{
	(void)state;
	struct rrt_result r;
	const char *dir = rrt_tmpdir();
	char path[512];

	if (rrt_run(&r, "command -v gcc") != 0) {
		rrt_free(&r);
		skip();
	}
	rrt_free(&r);
	snprintf(path, sizeof(path), "%s/probe.c", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(tsan_probe, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	if (rrt_run(&r, "gcc -std=gnu11 -O1 -g -fsanitize=thread -DRR_BUILD_TSAN -pthread "
			"-Iharness/include -Iharness -o %s/probe %s harness/lifetime.c 2>&1",
		    dir, path) != 0)
		fail_msg("building the TSan probe failed:\n%s", r.out);
	rrt_free(&r);

	/* Lifetime bookkeeping across threads: nothing to report. */
	rrt_run(&r, "TSAN_OPTIONS=halt_on_error=1:exitcode=66 %s/probe clean 2>&1", dir);
	if (r.status != 0)
		fail_msg("lifetime.c drew a TSan report (status %d):\n%s", r.status, r.out);
	rrt_free(&r);

	/* Two threads race on a counter with an rr_free each in between: the
	 * quarantine's lock must not hide the race. */
	rrt_run(&r, "TSAN_OPTIONS=halt_on_error=1:exitcode=66 %s/probe race 2>&1", dir);
	if (r.status != 66 || !strstr(r.out, "data race"))
		fail_msg("TSan missed the race across rr_free (status %d):\n%s", r.status, r.out);
	if (strstr(r.out, "lifetime.c:"))
		fail_msg("the race report blames lifetime.c:\n%s", r.out);
	rrt_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_correct_use_is_silent),
		cmocka_unit_test(test_touch_after_free),
		cmocka_unit_test(test_write_into_freed_found_at_iteration_end),
		cmocka_unit_test(test_write_into_freed_found_at_eviction),
		cmocka_unit_test(test_big_object_and_touch),
		cmocka_unit_test(test_double_free),
		cmocka_unit_test(test_free_on_one_thread_touch_on_another),
		cmocka_unit_test(test_tsan_sees_through_the_quarantine),
	};
	RRT_MAIN(tests);
}
