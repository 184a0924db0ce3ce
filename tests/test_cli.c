/*
 * test_cli.c: end-to-end tests of the racerepro CLI, run as a person would
 * run it, with the reports checked by independent parsers (jansson for JSON,
 * xmllint for XML). Outcome checks use controlled strategies or generous caps
 * with --stop-on-failure, so they do not depend on the machine's speed.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* One line on stderr that names WHAT, exit status 2, nothing on stdout. */
static void expect_usage_error(const char *args, const char *what)
{
	struct rrt_result r;
	rrt_run(&r, "%s %s", rrt_bin("none"), args);
	if (r.status != 2 || count_lines(r.err) != 1 || !strstr(r.err, what))
		fail_msg("racerepro %s: want exit 2 and one line naming '%s'; got %d:\n%s", args, what,
			 r.status, r.err);
	rrt_free(&r);
}

static void test_bad_input_gets_one_line_and_exit_2(void **state)
{
	(void)state;
	expect_usage_error("run no_such_scenario", "no_such_scenario");
	expect_usage_error("run broken_pipe --variant nope", "nope");
	expect_usage_error("run broken_pipe --strategy nope", "nope");
	expect_usage_error("run broken_pipe --duration 5x", "5x");
	expect_usage_error("run broken_pipe --duration -3s", "-3s");
	expect_usage_error("run broken_pipe --iterations 0", "--iterations");
	expect_usage_error("run broken_pipe --iterations -5", "-5");
	expect_usage_error("run broken_pipe --jobs 0", "--jobs");
	expect_usage_error("run broken_pipe --param nope=1", "nope");
	expect_usage_error("run broken_pipe --seed xyz", "xyz");
	expect_usage_error("soak no_such_scenario", "no_such_scenario");
	expect_usage_error("frobnicate", "frobnicate");
	expect_usage_error("replay /nonexistent/file.repro", "/nonexistent/file.repro");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_malformed_reproducers_are_rejected(void **state)
{
	(void)state;
	static const struct {
		const char *name, *text, *what;
	} cases[] = {
		{"empty", "", "line 1"},
		{"garbage", "hello world\n", "line 1"},
		{"version", "racerepro-repro 9\nscenario broken_pipe\n", "version"},
		{"truncated",
		 "racerepro-repro 1\nscenario broken_pipe\nvariant buggy\nstrategy pct\nseed 0x1\n",
		 "truncated"},
		{"badsched",
		 "racerepro-repro 1\nscenario broken_pipe\nvariant buggy\nstrategy input\nseed 0x1\n"
		 "schedule 0g\nbuild none\nsignature x\n",
		 "line 6"},
		{"badkey",
		 "racerepro-repro 1\nscenario broken_pipe\nvariant buggy\nstrategy input\nseed 0x1\n"
		 "colour blue\n",
		 "line 6"},
		{"badscenario",
		 "racerepro-repro 1\nscenario nope\nvariant buggy\nstrategy input\nseed 0x1\n"
		 "schedule\nbuild none\nsignature x\n",
		 "nope"},
	};
	const char *dir = rrt_tmpdir();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[512], args[600];
		snprintf(path, sizeof path, "%s/%s.repro", dir, cases[i].name);
		write_file(path, cases[i].text);
		snprintf(args, sizeof args, "replay %s", path);
		expect_usage_error(args, cases[i].what);
		snprintf(args, sizeof args, "explain %s", path);
		expect_usage_error(args, cases[i].what);
	}
}

static json_t *run_json(const char *build, const char *args, int want_status, const char **dirp)
{
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r, "%s %s --out %s/run --quiet", rrt_bin(build), args, dir);
	if (r.status != want_status)
		fail_msg("racerepro %s (%s): want exit %d, got %d\n%s\n%s", args, build, want_status,
			 r.status, r.out, r.err);
	rrt_free(&r);
	static char path[600];
	snprintf(path, sizeof path, "%s/run", dir);
	if (dirp)
		*dirp = path;
	char file[700];
	snprintf(file, sizeof file, "%s/summary.json", path);
	return rrt_load_json(file);
}

static void expect_signature(json_t *cell, const char *klass, const char *text)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(cell, "signatures"), i, s)
	{
		if (!strcmp(json_string_value(json_object_get(s, "class")), klass) &&
		    strstr(json_string_value(json_object_get(s, "signature")), text))
			return;
	}
	fail_msg("no %s signature containing '%s'", klass, text);
}

static void test_buggy_broken_pipe_reproduces_under_noise(void **state)
{
	(void)state;
	json_t *j = run_json("none",
			     "run broken_pipe --variant buggy --strategy noise --seed 1 "
			     "--iterations 200000 --stop-on-failure",
			     1, NULL);
	json_t *c = rrt_cell(j, "broken_pipe", "buggy");
	assert_string_equal(json_string_value(json_object_get(c, "verdict")), "reproduced");
	assert_true(rrt_outcome(c, "bug") >= 1);
	expect_signature(c, "bug", "write(m_post_fd, &buffer, 1)");
	json_decref(j);
}

static void fixed_runs_clean(const char *build, const char *strategy)
{
	char args[256];
	snprintf(args, sizeof args,
		 "run broken_pipe --variant fixed --strategy %s --seed 2 --iterations 3000", strategy);
	json_t *j = run_json(build, args, 0, NULL);
	json_t *c = rrt_cell(j, "broken_pipe", "fixed");
	assert_string_equal(json_string_value(json_object_get(c, "verdict")), "clean");
	assert_int_equal(rrt_outcome(c, "pass"), 3000);
	json_decref(j);
}

/* No suppressions anywhere: the fixed variant must be clean on its own. */
static void test_fixed_broken_pipe_clean_plain(void **state)
{
	(void)state;
	fixed_runs_clean("none", "portfolio");
	/* Two workers share one iteration budget exactly. */
	json_t *j = run_json("none",
			     "run broken_pipe --variant fixed --strategy random --jobs 2 "
			     "--iterations 2001",
			     0, NULL);
	assert_int_equal(rrt_outcome(rrt_cell(j, "broken_pipe", "fixed"), "pass"), 2001);
	json_decref(j);
}

/* --iterations with --duration: the run ends at whichever comes first (the
 * search benchmark bounds its failing-fraction runs this way). A budget of
 * three ends at three long before a minute; a budget of ten million cannot
 * end in 300 ms (broken_pipe's iterations take over 10 us each), so there
 * the time ends it. */
static void test_iterations_and_duration_whichever_first(void **state)
{
	(void)state;
	json_t *j = run_json("none",
			     "run broken_pipe --variant fixed --strategy random --iterations 3 "
			     "--duration 60s",
			     0, NULL);
	assert_int_equal(rrt_outcome(rrt_cell(j, "broken_pipe", "fixed"), "pass"), 3);
	json_decref(j);
	j = run_json("none",
		     "run broken_pipe --variant fixed --strategy random --iterations 10000000 "
		     "--duration 300ms",
		     0, NULL);
	json_int_t n = json_integer_value(json_object_get(rrt_cell(j, "broken_pipe", "fixed"),
							  "iterations"));
	assert_true(n > 0 && n < 10000000);
	json_decref(j);
}

static void test_fixed_broken_pipe_clean_asan(void **state)
{
	(void)state;
	fixed_runs_clean("asan", "portfolio");
}

static void test_fixed_broken_pipe_clean_tsan(void **state)
{
	(void)state;
	assert_null(getenv("TSAN_OPTIONS"));
	fixed_runs_clean("tsan", "noise");
	fixed_runs_clean("tsan", "random");
	fixed_runs_clean("tsan", "pct");
}

static void test_soak_verdict_and_reports(void **state)
{
	(void)state;
	const char *dir;
	json_t *j = run_json("none", "soak broken_pipe --duration 4s --seed 3", 0, &dir);
	assert_true(json_is_true(json_object_get(j, "verdict_holds")));
	json_t *b = rrt_cell(j, "broken_pipe", "buggy");
	json_t *f = rrt_cell(j, "broken_pipe", "fixed");
	assert_string_equal(json_string_value(json_object_get(b, "verdict")), "reproduced");
	expect_signature(b, "bug", "write(m_post_fd, &buffer, 1)");
	assert_string_equal(json_string_value(json_object_get(f, "verdict")), "clean");
	assert_int_equal(rrt_outcome(f, "bug") + rrt_outcome(f, "sanitizer") +
				 rrt_outcome(f, "crash") + rrt_outcome(f, "hang"),
			 0);
	json_t *conf = json_object_get(f, "fix_confidence");
	assert_non_null(conf);
	assert_true(json_real_value(json_object_get(conf, "miss_probability")) < 0.01);
	json_decref(j);

	char path[700];
	snprintf(path, sizeof path, "%s/junit.xml", dir);
	rrt_check_xml(path);
	char *xml = rrt_read_file(path);
	assert_non_null(strstr(xml, "name=\"buggy\""));
	assert_non_null(strstr(xml, "name=\"fixed\""));
	free(xml);
	snprintf(path, sizeof path, "%s/events.jsonl", dir);
	assert_true(rrt_check_jsonl(path) >= 4);
	snprintf(path, sizeof path, "%s/summary.md", dir);
	char *md = rrt_read_file(path);
	assert_non_null(strstr(md, "| broken_pipe | buggy |"));
	free(md);
	/* The saved reproducer of the buggy failure replays. */
	struct rrt_result r;
	rrt_run(&r, "ls %s/failures/*/failure.repro | head -1", dir);
	assert_true(strlen(r.out) > 10);
	rrt_free(&r);
}

/* The driver itself under ASan: a soak's summary is written from state the
 * cells own (this once read a configuration that had gone out of scope). */
static void test_soak_under_asan(void **state)
{
	(void)state;
	json_t *j = run_json("asan", "soak broken_pipe --duration 3s --seed 6 --param work_us=5", 0,
			     NULL);
	json_t *f = rrt_cell(j, "broken_pipe", "fixed");
	assert_string_equal(json_string_value(json_object_get(f, "verdict")), "clean");
	assert_string_equal(json_string_value(json_object_get(json_object_get(f, "params"), "work_us")),
			    "5");
	json_decref(j);
}

static void test_crashing_worker_is_classified(void **state)
{
	(void)state;
	const char *dir;
	json_t *j = run_json("none-test", "run test_crash --iterations 20 --param every=4", 1, &dir);
	json_t *c = rrt_cell(j, "test_crash", "buggy");
	assert_int_equal(rrt_outcome(c, "crash"), 5);
	assert_int_equal(rrt_outcome(c, "pass"), 15);
	expect_signature(c, "crash", "SIGSEGV");
	json_decref(j);
	/* gdb's backtrace of the core names the crashing function; the core
	 * itself is gone (no --keep-cores). */
	struct rrt_result r;
	rrt_run(&r, "cat %s/failures/*/backtrace.txt; ls %s/failures/*/core 2>/dev/null | wc -l",
		dir, dir);
	assert_non_null(strstr(r.out, "in crash_here ()"));
	assert_non_null(strstr(r.out, "\n0\n"));
	rrt_free(&r);
}

static void test_hanging_worker_is_classified(void **state)
{
	(void)state;
	const char *dir;
	json_t *j = run_json("none-test", "run test_hang --iterations 2 --timeout 300ms", 1, &dir);
	json_t *c = rrt_cell(j, "test_hang", "buggy");
	assert_int_equal(rrt_outcome(c, "hang"), 2);
	expect_signature(c, "hang", "watchdog");
	json_decref(j);
	/* gdb attached to the stuck worker before the watchdog killed it. */
	struct rrt_result r;
	rrt_run(&r, "cat %s/failures/*/backtrace.txt", dir);
	assert_non_null(strstr(r.out, "in hang_iterate"));
	rrt_free(&r);
}

static void test_deadlock_is_detected_under_control(void **state)
{
	(void)state;
	json_t *j = run_json("none-test",
			     "run test_deadlock --strategy random --seed 5 --iterations 40", 1, NULL);
	json_t *c = rrt_cell(j, "test_deadlock", "buggy");
	assert_true(rrt_outcome(c, "hang") >= 1);
	assert_true(rrt_outcome(c, "pass") >= 1);
	expect_signature(c, "hang", "deadlock");
	json_decref(j);
}

static void test_environment_error_is_not_a_finding(void **state)
{
	(void)state;
	json_t *j = run_json("none-test", "run test_env_error --iterations 5", 3, NULL);
	json_t *c = rrt_cell(j, "test_env_error", "buggy");
	assert_string_equal(json_string_value(json_object_get(c, "verdict")), "error");
	assert_int_equal(rrt_outcome(c, "bug"), 0);
	json_decref(j);
}

/* TSan must see the race in an unsynchronized counter under the controlled
 * strategies too: the run token's hand-off is not synchronization to TSan. */
static void test_tsan_sees_races_under_control(void **state)
{
	(void)state;
	static const char *const strategies[] = {"none", "random", "pct"};
	for (size_t i = 0; i < 3; i++) {
		char args[200];
		snprintf(args, sizeof args,
			 "run test_race --strategy %s --seed 9 --iterations 50 --stop-on-failure",
			 strategies[i]);
		json_t *j = run_json("tsan-test", args, 1, NULL);
		json_t *c = rrt_cell(j, "test_race", "buggy");
		assert_true(rrt_outcome(c, "sanitizer") >= 1);
		expect_signature(c, "sanitizer", "data race");
		json_decref(j);
	}
}

static void test_killed_driver_leaves_parseable_events(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r,
		"%s soak broken_pipe --duration 60s --out %s/run --quiet & pid=$!; sleep 2; "
		"kill -9 $pid; wait $pid; sleep 0.5; "
		"for p in $(pgrep -x racerepro); do tr '\\0' ' ' </proc/$p/cmdline | "
		"grep -q -- '%s/run' && echo $p; done | wc -l",
		rrt_bin("none"), dir, dir);
	/* Workers die with the driver (PR_SET_PDEATHSIG): none left behind. */
	assert_int_equal(atoi(r.out), 0);
	rrt_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/run/events.jsonl", dir);
	assert_true(rrt_check_jsonl(path) >= 2);
}

static void test_interrupted_run_still_writes_summary(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r,
		"%s run broken_pipe --duration 60s --out %s/run --quiet & pid=$!; sleep 1.5; "
		"kill -INT $pid; wait $pid; echo \"exit=$?\"",
		rrt_bin("none"), dir);
	assert_non_null(strstr(r.out, "exit=130"));
	rrt_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/run/summary.json", dir);
	json_t *j = rrt_load_json(path);
	assert_true(json_is_true(json_object_get(j, "interrupted")));
	json_decref(j);
	snprintf(path, sizeof path, "%s/run/junit.xml", dir);
	rrt_check_xml(path);
}

static void test_list_shows_scenarios_and_params(void **state)
{
	(void)state;
	struct rrt_result r;
	assert_int_equal(rrt_run(&r, "%s list", rrt_bin("none")), 0);
	assert_non_null(strstr(r.out, "broken_pipe"));
	assert_non_null(strstr(r.out, "param work_us="));
	assert_non_null(strstr(r.out, "roles:    loop async"));
	rrt_free(&r);
}

/* A full disk: one line naming the problem and the fix, exit 3, and what was
 * written before stays readable. Needs root for a 48 KiB tmpfs. */
static void test_full_disk_keeps_what_was_written(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	if (rrt_run(&r, "mount -t tmpfs -o size=48k,mode=0700 tmpfs %s", dir) != 0) {
		rrt_free(&r);
		skip(); /* not root, or no mount in this sandbox */
	}
	rrt_free(&r);
	rrt_run(&r, "%s soak broken_pipe --duration 4s --seed 4 --out %s/run --quiet",
		rrt_bin("none"), dir);
	int status = r.status;
	int named = strstr(r.err, "No space left on device") && strstr(r.err, "--out DIR");
	char path[600];
	snprintf(path, sizeof path, "%s/run/events.jsonl", dir);
	size_t lines = rrt_check_jsonl(path);
	rrt_free(&r);
	rrt_run(&r, "umount %s", dir);
	rrt_free(&r);
	assert_int_equal(status, 3);
	assert_true(named);
	assert_true(lines >= 2);
}

/* racerepro-bench --search, small: a bad option is named first and exits 2; a
 * run on the hard cell at N = 2 with a few contenders writes both reports,
 * every listed contender has its trials with times within the cap, the
 * others are absent, the feedback pair is in the table, and the fixed
 * variant shows no finding. */
static void test_bench_search_small_run(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	int rc = rrt_run(&r, "%s --search --bin %s --trials 0", rrt_bin("none-bench"),
			 rrt_bin("none-test"));
	/* the problem on the first line, then the usage line */
	if (rc != 2 || strncmp(r.err, "racerepro-bench --search: --trials must be", 42))
		fail_msg("--trials 0: exit %d\n%s", rc, r.err);
	rrt_free(&r);
	rc = rrt_run(&r, "%s --search --bin %s --afl-dir %s/none", rrt_bin("none-bench"),
		     rrt_bin("none-test"), dir);
	if (rc != 2 || !strstr(r.err, "libschedule-mutator.so"))
		fail_msg("--afl-dir without the mutator: exit %d\n%s", rc, r.err);
	rrt_free(&r);
	rc = rrt_run(&r, "%s --search --bin %s --cells 6 --contenders 'surw,pct,greybox,greybox "
		     "feedback off' --trials 3 --cap 60 --rate-iterations 20 --fixed-iterations 10 "
		     "--out %s/bs",
		     rrt_bin("none-bench"), rrt_bin("none-test"), dir);
	if (rc != 0)
		fail_msg("bench --search: exit %d\n%s%s", rc, r.out, r.err);
	rrt_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/bs/bench-search.json", dir);
	json_t *j = rrt_load_json(path);
	json_t *cells = json_object_get(j, "cells");
	assert_int_equal(json_array_size(cells), 1);
	json_t *c = json_array_get(cells, 0);
	assert_string_equal(json_string_value(json_object_get(c, "cell")), "hard N=2");
	json_t *k = json_object_get(c, "contenders");
	assert_int_equal(json_object_size(k), 4);
	assert_null(json_object_get(k, "random"));
	const char *name;
	json_t *x;
	json_object_foreach(k, name, x) {
		assert_int_equal(json_integer_value(json_object_get(x, "trials")), 3);
		assert_int_equal(json_integer_value(json_object_get(x, "errors")), 0);
		assert_int_equal(json_integer_value(json_object_get(x, "fixed_findings")), 0);
		double f = json_number_value(json_object_get(x, "failing_fraction"));
		assert_true(f >= 0 && f <= 1);
		json_t *m = json_object_get(x, "km_median");
		assert_true(json_is_null(m) || (json_number_value(m) >= 1 && json_number_value(m) <= 60));
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(x, "trials_detail"), i, t) {
			double v = json_number_value(json_object_get(t, "t"));
			assert_true(v >= 1 && v <= 60);
		}
	}
	double p = json_number_value(json_object_get(c, "logrank_p_best_vs_pct"));
	assert_true(p >= 0 && p <= 1);
	json_decref(j);
	snprintf(path, sizeof path, "%s/bs/bench-search.md", dir);
	char *md = rrt_read_file(path);
	assert_non_null(strstr(md, "| hard N=2 |"));
	assert_non_null(strstr(md, "| hard N=2 | greybox feedback off (vs greybox) |"));
	assert_non_null(strstr(md, "## Fixed variants"));
	free(md);
}

/* The first reproducer a run saved: DIR/SUB/failures/<signature>/failure.repro
 * into PATH, or the test fails. */
static void first_reproducer(const char *dir, const char *sub, char *path, size_t cap)
{
	struct rrt_result r;
	rrt_run(&r, "ls %s/%s/failures/*/failure.repro", dir, sub);
	if (r.status != 0 || !*r.out)
		fail_msg("%s/%s: no failure.repro\n%s", dir, sub, r.err);
	snprintf(path, cap, "%.*s", (int)strcspn(r.out, "\n"), r.out);
	rrt_free(&r);
}

/* Every stored reproducer of broken_pipe replays the same steps to the same
 * end, in the plain build (100 times) and under TSan. */
static void test_stored_reproducers_replay_identically(void **state)
{
	(void)state;
	struct rrt_result ls;
	rrt_run(&ls, "ls corpus/broken_pipe/repro/*.repro");
	int files = 0;
	for (char *line = strtok(ls.out, "\n"); line; line = strtok(NULL, "\n")) {
		struct rrt_result r;
		rrt_run(&r, "%s replay --check 100 %s", rrt_bin("none"), line);
		if (r.status != 0 || !strstr(r.out, "100 of 100 runs identical") ||
		    !strstr(r.out, "write(m_post_fd, &buffer, 1)"))
			fail_msg("replay --check 100 %s: exit %d\n%s%s", line, r.status, r.out, r.err);
		rrt_free(&r);
		rrt_run(&r, "%s replay --check 5 %s", rrt_bin("tsan"), line);
		if (r.status != 0 || !strstr(r.out, "5 of 5 runs identical"))
			fail_msg("tsan replay --check 5 %s: exit %d\n%s%s", line, r.status, r.out,
				 r.err);
		rrt_free(&r);
		/* Plain replay: the recorded failure shows again, exit 1. */
		assert_int_equal(rrt_run(&r, "%s replay %s", rrt_bin("none"), line), 1);
		rrt_free(&r);
		files++;
	}
	rrt_free(&ls);
	assert_true(files >= 2);
}

/* A failure found by surw or pos on the hard cell (test_reorder, 4
 * setters) is saved with everything its schedule depends on and replays
 * the same steps 50 times out of 50; surw's reproducer carries the per-role
 * expectations its worker had learned by then. Fixed seeds, bounded runs. */
static void search_strategy_replays(const char *strategy)
{
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r,
		"%s run test_reorder --param setters=4 --strategy %s --seed 5 --iterations 400 "
		"--stop-on-failure --quiet --out %s/%s",
		rrt_bin("none-test"), strategy, dir, strategy);
	if (r.status != 1)
		fail_msg("%s on test_reorder: exit %d\n%s%s", strategy, r.status, r.out, r.err);
	rrt_free(&r);
	char path[600];
	first_reproducer(dir, strategy, path, sizeof path);
	char *text = rrt_read_file(path);
	char want[64];
	snprintf(want, sizeof want, "strategy %s\n", strategy);
	assert_non_null(strstr(text, want));
	if (!strcmp(strategy, "surw"))
		assert_non_null(strstr(text, "surw-expect "));
	free(text);
	rrt_run(&r, "%s replay --check 50 %s", rrt_bin("none-test"), path);
	if (r.status != 0 || !strstr(r.out, "50 of 50 runs identical") ||
	    !strstr(r.out, "checker saw a set and b not"))
		fail_msg("replay --check 50 %s: exit %d\n%s%s", path, r.status, r.out, r.err);
	rrt_free(&r);
	assert_int_equal(rrt_run(&r, "%s replay %s", rrt_bin("none-test"), path), 1);
	rrt_free(&r);
}

/* greybox: the failing iteration's schedule is an input reproducer (base
 * sampler, seed, overrides, holds) that names greybox as its finder and
 * replays identically. */
static void test_greybox_reproducer_replays_identically(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r,
		"%s run test_reorder --param setters=3 --strategy greybox --seed 2 --iterations 600 "
		"--stop-on-failure --quiet --out %s/gb",
		rrt_bin("none-test"), dir);
	if (r.status != 1)
		fail_msg("greybox on test_reorder: exit %d\n%s%s", r.status, r.out, r.err);
	rrt_free(&r);
	char path[600];
	first_reproducer(dir, "gb", path, sizeof path);
	char *text = rrt_read_file(path);
	/* version 3 when the schedule carries holds from its parent */
	assert_true(!strncmp(text, "racerepro-repro 2\n", 18) ||
		    !strncmp(text, "racerepro-repro 3\n", 18));
	assert_non_null(strstr(text, "strategy input\nbase "));
	assert_non_null(strstr(text, "found-by greybox"));
	free(text);
	rrt_run(&r, "%s replay --check 50 %s", rrt_bin("none-test"), path);
	if (r.status != 0 || !strstr(r.out, "50 of 50 runs identical") ||
	    !strstr(r.out, "checker saw a set and b not"))
		fail_msg("replay --check 50 %s: exit %d\n%s%s", path, r.status, r.out, r.err);
	rrt_free(&r);
	/* RR_GREYBOX_BASE fixes the base sampler of every schedule it runs
	 * (the feedback ablation where the sampler alone is weak): the
	 * finding's schedule has it, and it still replays. */
	rrt_run(&r,
		"RR_GREYBOX_BASE=pct %s run test_reorder --param setters=3 --strategy greybox "
		"--seed 2 --iterations 600 --stop-on-failure --quiet --out %s/gbpct",
		rrt_bin("none-test"), dir);
	if (r.status != 1)
		fail_msg("RR_GREYBOX_BASE=pct greybox: exit %d\n%s%s", r.status, r.out, r.err);
	rrt_free(&r);
	first_reproducer(dir, "gbpct", path, sizeof path);
	text = rrt_read_file(path);
	assert_non_null(strstr(text, "strategy input\nbase pct\n"));
	free(text);
	rrt_run(&r, "%s replay --check 20 %s", rrt_bin("none-test"), path);
	if (r.status != 0 || !strstr(r.out, "20 of 20 runs identical"))
		fail_msg("replay --check 20 %s: exit %d\n%s%s", path, r.status, r.out, r.err);
	rrt_free(&r);
	/* a name that is not a base sampler: one line, exit 2, nothing run */
	rrt_run(&r, "RR_GREYBOX_BASE=portfolio %s run test_reorder --strategy greybox --quiet "
		    "--out %s/gbbad", rrt_bin("none-test"), dir);
	if (r.status != 2 || count_lines(r.err) != 1 || !strstr(r.err, "RR_GREYBOX_BASE=portfolio"))
		fail_msg("RR_GREYBOX_BASE=portfolio: want exit 2 and one line; got %d\n%s", r.status,
			 r.err);
	rrt_free(&r);
}

/* Holds (harness/schedule.h) are obeyed: on the hard cell with six setters,
 * random schedules whose setters are all held at their second write until
 * the checker has read b fail every time, while the same seeds without the
 * holds fail less often; the finding's reproducer is version 3, names the
 * holds and replays identically. */
static void test_holds_steer_and_replay(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	int held = 0, free_runs = 0;
	for (int seed = 1; seed <= 10; seed++) {
		/* header: random base, the seed, pct depth/steps, no expectations */
		char hex[512];
		int len = snprintf(hex, sizeof hex, "00%02x0000000000000001000000", seed);
		char base[64];
		memcpy(base, hex, (size_t)len + 1);
		len += snprintf(hex + len, sizeof hex - (size_t)len, "ffffffff");
		for (int setter = 2; setter <= 7; setter++) /* roles 2..7: setter-1..6 */
			len += snprintf(hex + len, sizeof hex - (size_t)len, "%02x0100010100", setter);
		struct rrt_result r;
		for (int with = 0; with < 2; with++) {
			rrt_run(&r,
				"%s run test_reorder --param setters=6 --strategy input --schedule %s "
				"--iterations 1 --quiet --out %s/holds-%d-%d",
				rrt_bin("none-test"), with ? hex : base, dir, with, seed);
			if (r.status != 0 && r.status != 1)
				fail_msg("schedule %s: exit %d\n%s%s", with ? hex : base, r.status, r.out,
					 r.err);
			if (with)
				held += r.status == 1;
			else
				free_runs += r.status == 1;
			rrt_free(&r);
		}
	}
	assert_int_equal(held, 10);
	assert_true(free_runs < 10);
	char path[600];
	first_reproducer(dir, "holds-1-1", path, sizeof path);
	char *text = rrt_read_file(path);
	assert_true(!strncmp(text, "racerepro-repro 3\n", 18));
	assert_non_null(strstr(text, "\nhold setter-1 1 until checker 1\n"));
	assert_non_null(strstr(text, "\nhold setter-6 1 until checker 1\n"));
	free(text);
	struct rrt_result r;
	rrt_run(&r, "%s replay --check 100 %s", rrt_bin("none-test"), path);
	if (r.status != 0 || !strstr(r.out, "100 of 100 runs identical"))
		fail_msg("replay --check 100 %s: exit %d\n%s%s", path, r.status, r.out, r.err);
	rrt_free(&r);
}

static void test_surw_reproducer_replays_identically(void **state)
{
	(void)state;
	search_strategy_replays("surw");
}

static void test_pos_reproducer_replays_identically(void **state)
{
	(void)state;
	search_strategy_replays("pos");
}

/* portfolio runs all five arms and names, per failure, the strategy that
 * found it; its counts per strategy add up to the iterations. */
static void test_portfolio_records_the_finding_strategy(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r,
		"%s run test_reorder --param setters=2 --strategy portfolio --seed 9 "
		"--iterations 300 --quiet --out %s/pf",
		rrt_bin("none-test"), dir);
	assert_int_equal(r.status, 1);
	rrt_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/pf/summary.json", dir);
	json_t *sum = rrt_load_json(path);
	json_t *cell = rrt_cell(sum, "test_reorder", "buggy");
	json_t *by = json_object_get(cell, "by_strategy");
	long long total = 0;
	static const char *const arms[] = {"noise", "random", "pct", "surw", "pos"};
	for (size_t i = 0; i < 5; i++) {
		json_t *a = json_object_get(by, arms[i]);
		if (!a)
			fail_msg("portfolio never ran %s", arms[i]);
		total += json_integer_value(json_object_get(a, "iterations"));
	}
	assert_int_equal(total, 300);
	json_decref(sum);
	rrt_run(&r, "cat %s/pf/failures/*/failure.repro", dir);
	assert_non_null(strstr(r.out, "found-by portfolio"));
	rrt_free(&r);
}

static void test_explain_shows_close_before_write(void **state)
{
	(void)state;
	struct rrt_result r;
	rrt_run(&r, "%s explain corpus/broken_pipe/repro/input-broken-pipe.repro",
		rrt_bin("none"));
	assert_int_equal(r.status, 1);
	assert_true(count_lines(r.out) <= 50);
	assert_non_null(strstr(r.out, " loop "));
	assert_non_null(strstr(r.out, " async "));
	const char *closed = strstr(r.out, "closed m_wait_fd");
	const char *failed = strstr(r.out, "write m_post_fd failed: Broken pipe");
	assert_non_null(closed);
	assert_non_null(failed);
	assert_true(closed < failed);
	assert_non_null(strstr(r.out, "replay: "));
	rrt_free(&r);
}

static void test_minimize_keeps_the_failure(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r, "%s minimize corpus/broken_pipe/repro/pct-bad-fd.repro -o %s/min.repro",
		rrt_bin("none"), dir);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "preemptions ->"));
	rrt_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/min.repro", dir);
	char *text = rrt_read_file(path);
	assert_non_null(strstr(text, "strategy input"));
	free(text);
	assert_int_equal(rrt_run(&r, "%s replay --check 20 %s", rrt_bin("none"), path), 0);
	rrt_free(&r);
	assert_int_equal(rrt_run(&r, "%s replay %s", rrt_bin("none"), path), 1);
	rrt_free(&r);
}

/* A 40-character parameter name goes into the reproducer whole, and the
 * replay fails the same way (the name used to be cut to 31 characters on the
 * way in, and the replay then rejected the unknown parameter). */
static void test_long_parameter_name_survives_a_reproducer(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	const char *name = "a_parameter_name_of_exactly_forty_chars_";
	assert_int_equal(strlen(name), 40);
	struct rrt_result r;
	assert_int_equal(rrt_run(&r, "%s run test_long_param --strategy random --seed 3 "
				     "--iterations 1 --param %s=7 --out %s/run --quiet",
				 rrt_bin("none-test"), name, dir),
			 1);
	rrt_free(&r);
	char path[512];
	first_reproducer(dir, "run", path, sizeof path);
	char *text = rrt_read_file(path);
	char want[128];
	snprintf(want, sizeof want, "\nparam %s=7\n", name);
	assert_non_null(strstr(text, want));
	free(text);
	rrt_run(&r, "%s replay %s", rrt_bin("none-test"), path);
	if (r.status != 1 || !strstr(r.out, "the recorded failure showed again"))
		fail_msg("replay %s: exit %d\n%s%s", path, r.status, r.out, r.err);
	rrt_free(&r);
}

/* Preemption bounding: every stored broken_pipe reproducer minimizes to at
 * most 3 preemptions, and the result replays the same signature, the same
 * steps every time. */
static void test_minimize_bounds_broken_pipe_preemptions(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	struct rrt_result ls;
	rrt_run(&ls, "ls corpus/broken_pipe/repro/*.repro");
	int files = 0;
	for (char *line = strtok(ls.out, "\n"); line; line = strtok(NULL, "\n")) {
		struct rrt_result r;
		char out[700];
		snprintf(out, sizeof out, "%s/min-%d.repro", dir, files);
		rrt_run(&r, "%s minimize %s -o %s", rrt_bin("none"), line, out);
		const char *arrow = strstr(r.out, "preemptions -> ");
		unsigned dec = 0, pre = 99;
		if (r.status != 0 || !arrow ||
		    sscanf(arrow, "preemptions -> %u decisions, %u preemptions", &dec, &pre) != 2)
			fail_msg("minimize %s: exit %d\n%s%s", line, r.status, r.out, r.err);
		if (pre > 3)
			fail_msg("minimize %s kept %u preemptions (at most 3 wanted)\n%s", line, pre,
				 r.out);
		rrt_free(&r);
		char *orig = rrt_read_file(line), *min = rrt_read_file(out);
		const char *so = strstr(orig, "\nsignature "), *sm = strstr(min, "\nsignature ");
		assert_non_null(so);
		assert_non_null(sm);
		assert_int_equal(strcspn(so + 1, "\n"), strcspn(sm + 1, "\n"));
		assert_memory_equal(so, sm, strcspn(so + 1, "\n") + 1);
		free(orig);
		free(min);
		rrt_run(&r, "%s replay --check 20 %s", rrt_bin("none"), out);
		char want[64];
		snprintf(want, sizeof want, "%u preemptions", pre);
		if (r.status != 0 || !strstr(r.out, "20 of 20 runs identical") || !strstr(r.out, want))
			fail_msg("replay --check 20 %s: exit %d\n%s%s", out, r.status, r.out, r.err);
		rrt_free(&r);
		assert_int_equal(rrt_run(&r, "%s replay %s", rrt_bin("none"), out), 1);
		rrt_free(&r);
		files++;
	}
	rrt_free(&ls);
	assert_true(files >= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input_gets_one_line_and_exit_2),
		cmocka_unit_test(test_malformed_reproducers_are_rejected),
		cmocka_unit_test(test_list_shows_scenarios_and_params),
		cmocka_unit_test(test_buggy_broken_pipe_reproduces_under_noise),
		cmocka_unit_test(test_fixed_broken_pipe_clean_plain),
		cmocka_unit_test(test_iterations_and_duration_whichever_first),
		cmocka_unit_test(test_fixed_broken_pipe_clean_asan),
		cmocka_unit_test(test_fixed_broken_pipe_clean_tsan),
		cmocka_unit_test(test_soak_verdict_and_reports),
		cmocka_unit_test(test_soak_under_asan),
		cmocka_unit_test(test_crashing_worker_is_classified),
		cmocka_unit_test(test_hanging_worker_is_classified),
		cmocka_unit_test(test_deadlock_is_detected_under_control),
		cmocka_unit_test(test_environment_error_is_not_a_finding),
		cmocka_unit_test(test_tsan_sees_races_under_control),
		cmocka_unit_test(test_killed_driver_leaves_parseable_events),
		cmocka_unit_test(test_interrupted_run_still_writes_summary),
		cmocka_unit_test(test_full_disk_keeps_what_was_written),
		cmocka_unit_test(test_stored_reproducers_replay_identically),
		cmocka_unit_test(test_bench_search_small_run),
		cmocka_unit_test(test_surw_reproducer_replays_identically),
		cmocka_unit_test(test_pos_reproducer_replays_identically),
		cmocka_unit_test(test_greybox_reproducer_replays_identically),
		cmocka_unit_test(test_holds_steer_and_replay),
		cmocka_unit_test(test_portfolio_records_the_finding_strategy),
		cmocka_unit_test(test_explain_shows_close_before_write),
		cmocka_unit_test(test_minimize_keeps_the_failure),
		cmocka_unit_test(test_minimize_bounds_broken_pipe_preemptions),
		cmocka_unit_test(test_long_parameter_name_survives_a_reproducer),
	};
	RRT_MAIN(tests);
}
