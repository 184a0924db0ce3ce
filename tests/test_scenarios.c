/*
 * test_scenarios.c: scenarios that exist only to test the driver, built into
 * build/<san>/racerepro-test and never into the product. Each misbehaves in
 * one known way, so the tests can check that the driver survives it and
 * classifies it correctly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "racerepro.h"

static const struct rr_param every_param[] = {
	{"every", "1", "misbehave on every Nth iteration of a worker"},
	{NULL, NULL, NULL},
};

static int due(void)
{
	static long long n;
	return ++n % rr_param_int("every") == 0;
}

/* A worker that dies of SIGSEGV: the driver must record `crash` and go on. */
__attribute__((noinline)) static void crash_here(void)
{
	volatile int *volatile null_ptr = NULL;
	*null_ptr = 1;
}

static int crash_iterate(void *state)
{
	(void)state;
	rr_point("crash.before");
	if (due())
		crash_here();
	return 0;
}

/* A worker stuck outside any wrapper: only the watchdog can end it. */
static int hang_iterate(void *state)
{
	(void)state;
	rr_point("hang.before");
	if (due())
		for (;;)
			pause();
	return 0;
}

/* Two threads increment a counter with no synchronization at all. TSan must
 * report it under every strategy: a controlled schedule serializes the
 * threads, but its hand-off must not look like synchronization to TSan. */
static int race_counter;

static void *race_thread(void *arg)
{
	(void)arg;
	int v = race_counter;
	rr_point("race.between_read_and_write");
	race_counter = v + 1;
	return NULL;
}

static int race_iterate(void *state)
{
	(void)state;
	race_counter = 0;
	struct rr_thread *a = rr_thread_start("incr-a", race_thread, NULL);
	struct rr_thread *b = rr_thread_start("incr-b", race_thread, NULL);
	rr_thread_join(a);
	rr_thread_join(b);
	return 0;
}

/* Lock-order inversion: under a controlled strategy the scheduler must see
 * that both threads are parked and end the iteration as a deadlock. */
static struct rr_mutex lock_a, lock_b;

static void *lock_ab(void *arg)
{
	(void)arg;
	rr_mutex_lock(&lock_a);
	rr_point("ab.holding_a");
	rr_mutex_lock(&lock_b);
	rr_mutex_unlock(&lock_b);
	rr_mutex_unlock(&lock_a);
	return NULL;
}

static void *lock_ba(void *arg)
{
	(void)arg;
	rr_mutex_lock(&lock_b);
	rr_point("ba.holding_b");
	rr_mutex_lock(&lock_a);
	rr_mutex_unlock(&lock_a);
	rr_mutex_unlock(&lock_b);
	return NULL;
}

/* Done before the inversion starts: a deadlock report names it as exited. */
static void *helper(void *arg)
{
	(void)arg;
	rr_point("helper.done");
	return NULL;
}

static int deadlock_iterate(void *state)
{
	(void)state;
	rr_mutex_init(&lock_a, "lock_a");
	rr_mutex_init(&lock_b, "lock_b");
	rr_thread_join(rr_thread_start("helper", helper, NULL));
	struct rr_thread *x = rr_thread_start("ab", lock_ab, NULL);
	struct rr_thread *y = rr_thread_start("ba", lock_ba, NULL);
	rr_thread_join(x);
	rr_thread_join(y);
	rr_mutex_destroy(&lock_a);
	rr_mutex_destroy(&lock_b);
	return 0;
}

static int env_error_iterate(void *state)
{
	(void)state;
	return rr_env_error(ENOSYS, "test_env_error: the environment lacks what this needs");
}

/* The hard benchmark cell (SCTBench's reorder_N_bad, after CHESS's
 * examples): N setters each write two fields, a then b, in the wrong order
 * (the fix writes b first); one checker, started last, reads a and then b
 * and fails when it saw a set but b not. The checker must run after some
 * setter's first write and before every setter's second write, so the run
 * must hold all setters back after their first step: the more setters, the
 * less likely a random walk or a few PCT change points manage it.
 *
 *   setter-1               checker
 *   a = 1
 *                          x = a    (1)
 *                          y = b    (0): a set, b not
 *   b = -1
 *
 * The fields are relaxed atomics: the bug is the order of the writes, not a
 * data race, so TSan builds report only the checker's own verdict. */
#define REORDER_MAX 14 /* main, checker and the setters fit RR_MAX_THREADS */
static int reorder_a, reorder_b;

static void *reorder_setter(void *arg)
{
	(void)arg;
	if (rr_variant_is("fixed")) {
		rr_point_on("setter.write_b", &reorder_b);
		__atomic_store_n(&reorder_b, -1, __ATOMIC_RELAXED);
		rr_point_on("setter.write_a", &reorder_a);
		__atomic_store_n(&reorder_a, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	rr_point_on("setter.write_a", &reorder_a);
	__atomic_store_n(&reorder_a, 1, __ATOMIC_RELAXED);
	rr_point_on("setter.write_b", &reorder_b);
	__atomic_store_n(&reorder_b, -1, __ATOMIC_RELAXED);
	return NULL;
}

static void *reorder_checker(void *arg)
{
	(void)arg;
	rr_point_on("checker.read_a", &reorder_a);
	int a = __atomic_load_n(&reorder_a, __ATOMIC_RELAXED);
	rr_point_on("checker.read_b", &reorder_b);
	int b = __atomic_load_n(&reorder_b, __ATOMIC_RELAXED);
	if (a == 1 && b == 0)
		rr_bug("checker saw a set and b not: a setter wrote its fields out of order");
	return NULL;
}

static const char *const reorder_roles[] = {
	"main",      "checker",   "setter-1",  "setter-2",  "setter-3",  "setter-4",
	"setter-5",  "setter-6",  "setter-7",  "setter-8",  "setter-9",  "setter-10",
	"setter-11", "setter-12", "setter-13", "setter-14", NULL};

static int reorder_iterate(void *state)
{
	(void)state;
	long long n = rr_param_int("setters");
	if (n < 1 || n > REORDER_MAX)
		return rr_env_error(EINVAL, "test_reorder: setters must be 1..%d", REORDER_MAX);
	__atomic_store_n(&reorder_a, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&reorder_b, 0, __ATOMIC_RELAXED);
	struct rr_thread *t[REORDER_MAX + 1];
	for (long long i = 0; i < n; i++)
		t[i] = rr_thread_start(reorder_roles[2 + i], reorder_setter, NULL);
	t[n] = rr_thread_start("checker", reorder_checker, NULL);
	for (long long i = 0; i <= n; i++)
		rr_thread_join(t[i]);
	return 0;
}

static const struct rr_param reorder_params[] = {
	{"setters", "4", "how many setters write the two fields (1..14)"},
	{NULL, NULL, NULL},
};

RR_DEFINE_SCENARIO(test_reorder) = {
	.name = "test_reorder",
	.upstream = "(test only; SCTBench reorder_N_bad)",
	.summary = "N setters write two fields in the wrong order, one checker",
	.symptom = "checker saw a set and b not",
	.roles = reorder_roles,
	.variants = rr_variants_buggy_fixed,
	.params = reorder_params,
	.iterate = reorder_iterate,
};
/* rr_pin_role's contract, checked from inside an iteration: under a
 * free-running strategy with n >= 2 CPUs, role i runs on exactly the
 * (i mod n)-th CPU of the worker's mask; under a controlled strategy, or with
 * one CPU, nothing changes; and the iterate() thread has the whole mask back
 * when the next iteration begins. Any breach is a `bug` finding naming it. */
static const char *const pin_roles[] = {"main", "pin-a", "pin-b", NULL};

struct pin_seen {
	const char *role;
	int rc;
	cpu_set_t mask;
};

static cpu_set_t worker_mask;
static int worker_mask_read;

static void pin_and_look(struct pin_seen *s)
{
	s->rc = rr_pin_role(s->role);
	CPU_ZERO(&s->mask);
	if (sched_getaffinity(0, sizeof s->mask, &s->mask) < 0)
		s->rc = -errno;
}

static void *pin_thread(void *arg)
{
	pin_and_look(arg);
	return NULL;
}

/* The I-th CPU of the worker's mask. */
static int nth_cpu(int i)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &worker_mask) && i-- == 0)
			return c;
	return -1;
}

static int pin_iterate(void *state)
{
	(void)state;
	cpu_set_t now;
	struct pin_seen seen[3] = {{.role = "main"}, {.role = "pin-a"}, {.role = "pin-b"}};

	CPU_ZERO(&now);
	if (sched_getaffinity(0, sizeof now, &now) < 0)
		return rr_env_error(errno, "sched_getaffinity: %s", strerror(errno));
	if (!worker_mask_read) {
		worker_mask = now;
		worker_mask_read = 1;
	} else if (!CPU_EQUAL(&now, &worker_mask)) {
		rr_bug("pin: iterate() began on %d CPUs, not the worker's %d: the last "
		       "iteration's pinning was not undone", CPU_COUNT(&now), CPU_COUNT(&worker_mask));
	}
	struct rr_thread *a = rr_thread_start("pin-a", pin_thread, &seen[1]);
	struct rr_thread *b = rr_thread_start("pin-b", pin_thread, &seen[2]);
	if (!a || !b)
		return -EAGAIN;
	rr_point("pin.main");
	pin_and_look(&seen[0]);
	rr_thread_join(a);
	rr_thread_join(b);

	int n = CPU_COUNT(&worker_mask);
	int expect_pinned = !rr_controlled() && n >= 2;
	for (int i = 0; i < 3; i++) {
		if (seen[i].rc != 0)
			return rr_env_error(-seen[i].rc, "pin: %s: %s", seen[i].role,
					    strerror(-seen[i].rc));
		if (!expect_pinned) {
			if (!CPU_EQUAL(&seen[i].mask, &worker_mask))
				rr_bug("pin: %s was moved (%d CPUs of %d) although %s", seen[i].role,
				       CPU_COUNT(&seen[i].mask), n,
				       n < 2 ? "the worker has one CPU" : "the strategy is controlled");
			continue;
		}
		int want = nth_cpu(i % n);
		if (CPU_COUNT(&seen[i].mask) != 1 || !CPU_ISSET(want, &seen[i].mask))
			rr_bug("pin: %s is on %d CPUs, want exactly CPU %d", seen[i].role,
			       CPU_COUNT(&seen[i].mask), want);
	}
	return 0;
}

/* A parameter whose name is 40 characters long: it must survive the trip
 * through a reproducer (the name limit is one, RR_PARAM_NAME). The iteration
 * fails only when the parameter is set away from its default, so a
 * reproducer that lost the parameter would not fail on replay. */
#define LONG_PARAM "a_parameter_name_of_exactly_forty_chars_"
static const struct rr_param long_param[] = {
	{LONG_PARAM, "0", "a finding when set to 7"},
	{NULL, NULL, NULL},
};

static int long_param_iterate(void *state)
{
	(void)state;
	rr_point("long_param.check");
	if (rr_param_int(LONG_PARAM) == 7)
		rr_bug("the long parameter is 7");
	return 0;
}

static const char *const main_only[] = {"main", NULL};
/* The scenario harness's cost per scheduling point, the baseline that
 * scripts/bench-exec.sh sets exec mode's against (the same loop as
 * tests/programs/bench_points.c in mode 0): THREADS threads each take one
 * rr_mutex ITERS times. The time of the loop alone, without the worker's
 * fork and the iteration's setup, goes to the file OUT as "ns_per_op N". */
#define POINTS_MAX 64
static struct rr_mutex points_lock;
static long points_counter;

static void *points_worker(void *arg)
{
	long iters = *(const long *)arg;
	for (long i = 0; i < iters; i++) {
		rr_mutex_lock(&points_lock);
		points_counter++;
		rr_mutex_unlock(&points_lock);
	}
	return NULL;
}

static int points_iterate(void *state)
{
	(void)state;
	long long n = rr_param_int("threads");
	long iters = (long)rr_param_int("iters");
	const char *out = rr_param_str("out");
	if (n < 1 || n > POINTS_MAX || iters < 1)
		return rr_env_error(EINVAL, "test_points: threads must be 1..%d, iters >= 1",
				    POINTS_MAX);
	rr_mutex_init(&points_lock, "points_lock");
	struct rr_thread *t[POINTS_MAX];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long long i = 0; i < n; i++)
		t[i] = rr_thread_start("worker", points_worker, &iters);
	for (long long i = 0; i < n; i++)
		rr_thread_join(t[i]);
	clock_gettime(CLOCK_MONOTONIC, &b);
	rr_mutex_destroy(&points_lock);
	if (*out) {
		FILE *f = fopen(out, "w");
		if (!f)
			return rr_env_error(errno, "test_points: %s: %s", out, strerror(errno));
		double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
		fprintf(f, "ns_per_op %.1f\n", ns / ((double)n * (double)iters));
		if (fclose(f) != 0)
			return rr_env_error(errno, "test_points: %s: %s", out, strerror(errno));
	}
	return 0;
}

static const char *const points_roles[] = {"main", "worker", NULL};
static const struct rr_param points_params[] = {
	{"threads", "2", "threads taking the lock (1..64)"},
	{"iters", "1000", "lock/unlock pairs per thread"},
	{"out", "", "file for the measured ns per pair (none: not written)"},
	{NULL, NULL, NULL},
};

static const char *const race_roles[] = {"main", "incr-a", "incr-b", NULL};
static const char *const deadlock_roles[] = {"main", "helper", "ab", "ba", NULL};

/* The inversion's documented symptom is the deadlock itself: the buggy
 * variant declares it, so a deadlock is `reproduced`, not `missed`. */
static const struct rr_variant deadlock_variants[] = {
	{"buggy", 1, "the lock-order inversion", RR_EXPECT_DEADLOCK},
	{"fixed", 0, "the same code (a test scenario: nothing is fixed)", RR_EXPECT_FINDING},
	{NULL, 0, NULL, RR_EXPECT_FINDING},
};

#define TEST_SCENARIO_VP(id, what, roles_, variants_, fn, params_)                                 \
	RR_DEFINE_SCENARIO(id) = {                                                                 \
		.name = #id,                                                                       \
		.upstream = "(test only)",                                                         \
		.summary = what,                                                                   \
		.symptom = what,                                                                   \
		.roles = roles_,                                                                   \
		.variants = variants_,                                                             \
		.params = params_,                                                                 \
		.iterate = fn,                                                                     \
	}

#define TEST_SCENARIO_P(id, what, roles_, fn, params_)                                             \
	TEST_SCENARIO_VP(id, what, roles_, rr_variants_buggy_fixed, fn, params_)
#define TEST_SCENARIO_V(id, what, roles_, variants_, fn)                                           \
	TEST_SCENARIO_VP(id, what, roles_, variants_, fn, every_param)
#define TEST_SCENARIO(id, what, roles_, fn) TEST_SCENARIO_P(id, what, roles_, fn, every_param)

TEST_SCENARIO(test_crash, "a worker that dies of SIGSEGV", main_only, crash_iterate);
TEST_SCENARIO(test_hang, "a worker stuck outside any wrapper", main_only, hang_iterate);
TEST_SCENARIO(test_race, "an unsynchronized counter shared by two threads", race_roles,
	      race_iterate);
TEST_SCENARIO_V(test_deadlock, "a lock-order inversion", deadlock_roles, deadlock_variants,
		deadlock_iterate);
TEST_SCENARIO(test_env_error, "an iteration whose environment fails", main_only,
	      env_error_iterate);
TEST_SCENARIO(test_pin, "rr_pin_role's placement, checked with sched_getaffinity", pin_roles,
	      pin_iterate);
TEST_SCENARIO_P(test_points, "lock/unlock pairs timed for bench-exec.sh", points_roles,
		points_iterate, points_params);
TEST_SCENARIO_P(test_long_param, "a finding set by a 40-character parameter", main_only,
		long_param_iterate, long_param);
