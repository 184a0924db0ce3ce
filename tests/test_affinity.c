/*
 * test_affinity.c: rr_pin_role (harness/affinity.c), the CPU placement that
 * cancel_uaf and last_wqe_uaf share. Not a timing test: the test-only
 * scenario test_pin reads each role's affinity with sched_getaffinity inside
 * the iteration and turns any breach of the contract into a `bug` finding
 * (see tests/test_scenarios.c), so a clean run is the contract holding.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

/* CPUs this test may use (the workers inherit the same mask). */
static int worker_cpus(void)
{
	cpu_set_t m;
	CPU_ZERO(&m);
	if (sched_getaffinity(0, sizeof m, &m) < 0)
		fail_msg("sched_getaffinity failed");
	return CPU_COUNT(&m);
}

static void expect_clean(const char *strategy, const char *prefix)
{
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	char file[600];

	rrt_run(&r, "%s %s run test_pin --variant fixed --strategy %s --seed 3 --iterations 30 "
		    "--out %s/%s --quiet", prefix, rrt_bin("none-test"), strategy, dir, strategy);
	if (r.status != 0)
		fail_msg("test_pin under %s (%s): want exit 0, got %d\n%s%s", strategy,
			 *prefix ? prefix : "all CPUs", r.status, r.out, r.err);
	rrt_free(&r);
	snprintf(file, sizeof file, "%s/%s/summary.json", dir, strategy);
	json_t *j = rrt_load_json(file);
	json_t *c = rrt_cell(j, "test_pin", "fixed");
	assert_int_equal(rrt_outcome(c, "pass"), 30);
	assert_int_equal(rrt_outcome(c, "bug"), 0);
	json_decref(j);
}

/* Free-running: role i on the (i mod n)-th CPU, and iterate()'s thread gets
 * the worker's CPUs back before the next iteration (30 of them, one worker). */
static void test_free_running_strategies_pin_each_role(void **state)
{
	(void)state;
	expect_clean("none", "");
	expect_clean("noise", "");
}

/* Controlled: one thread runs at a time, so nothing is moved. */
static void test_controlled_strategies_leave_affinity_alone(void **state)
{
	(void)state;
	expect_clean("random", "");
	expect_clean("pct", "");
}

/* A worker confined to one CPU: nothing to deal out, nothing moved. */
static void test_one_cpu_leaves_affinity_alone(void **state)
{
	(void)state;
	expect_clean("none", "taskset -c 0");
}

/* The scenarios that model pinned upstream threads use the helper: under
 * none their two roles report different CPUs (cells[].env.cpus, "app 0,
 * reaper 1 (...)"), under a controlled strategy no placement at all. */
static const char *cpu_of(json_t *cell, const char *role)
{
	const char *cpus = json_string_value(json_object_get(json_object_get(cell, "env"), "cpus"));
	char key[64];
	if (!cpus)
		return NULL;
	snprintf(key, sizeof key, "%s ", role);
	for (const char *p = cpus; (p = strstr(p, key)); p++)
		if (p == cpus || p[-1] == ' ')
			return p + strlen(key);
	return NULL;
}

static void expect_placed(const char *scenario, const char *role0, const char *role1)
{
	const char *dir = rrt_tmpdir();
	static const char *const strategies[] = {"none", "random"};
	for (int s = 0; s < 2; s++) {
		struct rrt_result r;
		char file[600];
		rrt_run(&r, "%s run %s --variant fixed --strategy %s --seed 1 --iterations 3 "
			    "--out %s/%s-%s --quiet", rrt_bin("none"), scenario, strategies[s], dir,
			scenario, strategies[s]);
		if (r.status != 0)
			fail_msg("%s under %s: exit %d\n%s", scenario, strategies[s], r.status, r.err);
		rrt_free(&r);
		snprintf(file, sizeof file, "%s/%s-%s/summary.json", dir, scenario, strategies[s]);
		json_t *j = rrt_load_json(file);
		json_t *c = rrt_cell(j, scenario, "fixed");
		const char *a = cpu_of(c, role0), *b = cpu_of(c, role1);
		if (s == 0) {
			if (!a || !b || atoi(a) == atoi(b))
				fail_msg("%s under none: want %s and %s on different CPUs, got %s / %s",
					 scenario, role0, role1, a ? a : "(none)", b ? b : "(none)");
		} else if (a || b) {
			fail_msg("%s under random: roles were pinned (%s / %s)", scenario,
				 a ? a : "-", b ? b : "-");
		}
		json_decref(j);
	}
}

static void test_cancel_uaf_and_last_wqe_uaf_place_their_roles(void **state)
{
	(void)state;
	if (worker_cpus() < 2)
		skip();
	expect_placed("cancel_uaf", "app", "reaper");
	expect_placed("last_wqe_uaf", "owner", "acceptor");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_running_strategies_pin_each_role),
		cmocka_unit_test(test_controlled_strategies_leave_affinity_alone),
		cmocka_unit_test(test_one_cpu_leaves_affinity_alone),
		cmocka_unit_test(test_cancel_uaf_and_last_wqe_uaf_place_their_roles),
	};
	RRT_MAIN(tests);
}
