/*
 * test_registry_counts.c: no test may assume how many scenarios there are.
 * Adding a race is one file and one line (scenarios/scenarios.def); this test
 * does exactly that in a copy of the tree (tests/sixth_scenario.c), builds
 * the plain binaries there, and reruns the tests whose expectations depend
 * on the registry's size: the nightly matrix's shards and its one-cell
 * shard, and `racerepro list`. Cheap: one plain build and three tests.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static int count_scenarios(const char *bin)
{
	struct rrt_result r;
	if (rrt_run(&r, "'%s' list | grep -cE '^[a-z0-9_]+$'", bin) != 0)
		fail_msg("racerepro list failed: %s", r.err);
	int n = atoi(r.out);
	rrt_free(&r);
	return n;
}

/* Runs the named tests of test program PROG inside TREE; all must pass. */
static void rerun(const char *tree, const char *prog, const char *names, int ntests)
{
	struct rrt_result r;
	/* RRT_TALLY unset: these counts are not this run's. */
	int rc = rrt_run(&r, "cd '%s' && env -u RRT_TALLY RR_BUILDROOT=build RRT_ONLY=%s "
			     "build/tests/%s 2>&1", tree, names, prog);
	char want[64];
	snprintf(want, sizeof want, "[  PASSED  ] %d test(s)", ntests);
	if (rc != 0 || !strstr(r.out, want))
		fail_msg("with a sixth scenario, %s (%s) failed (exit %d):\n%s", prog, names, rc,
			 r.out);
	rrt_free(&r);
}

static void test_a_sixth_scenario_keeps_count_dependent_tests_green(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	char tree[600];
	struct rrt_result r;
	snprintf(tree, sizeof tree, "%s/tree", tmp);
	int before = count_scenarios(rrt_bin("none"));
	if (before < 1)
		fail_msg("racerepro list shows no scenario");
	/* The tree as it is (uncommitted changes included), without builds,
	 * reports or git. One file and one line make the sixth scenario. */
	if (rrt_run(&r,
		    "mkdir '%s' && tar -cf - --exclude=./build --exclude=./reports --exclude=./.git . | "
		    "tar -xf - -C '%s' && cp tests/sixth_scenario.c '%s/scenarios/' && "
		    "echo 'RR_SCENARIO(sixth_scenario)' >>'%s/scenarios/scenarios.def'",
		    tree, tree, tree, tree) != 0)
		fail_msg("copying the tree failed: %s", r.err);
	rrt_free(&r);
	if (rrt_run(&r,
		    "cd '%s' && env -u RRT_TALLY -u MAKEFLAGS -u MAKELEVEL make --no-print-directory -j2 "
		    "SAN=none build/none/racerepro build/none/racerepro-test build/tests/test_nightly "
		    "build/tests/test_cli",
		    tree) != 0)
		fail_msg("the tree with a sixth scenario does not build:\n%s%s", r.out, r.err);
	rrt_free(&r);
	char bin[700];
	snprintf(bin, sizeof bin, "%s/build/none/racerepro", tree);
	assert_int_equal(count_scenarios(bin), before + 1);
	rerun(tree, "test_nightly", "test_shards_cover_each_cell_once,test_tiny_nightly", 2);
	rerun(tree, "test_cli", "test_list_shows_scenarios_and_params", 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_sixth_scenario_keeps_count_dependent_tests_green),
	};
	RRT_MAIN(tests);
}
