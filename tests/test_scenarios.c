/*
 * test_scenarios.c: scenarios that exist only to test the driver, built into
 * build/<san>/racerepro-test and never into the product. Each misbehaves in
 * one known way, so the tests can check that the driver survives it and
 * classifies it correctly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
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
TEST_SCENARIO_P(test_long_param, "a finding set by a 40-character parameter", main_only,
		long_param_iterate, long_param);
