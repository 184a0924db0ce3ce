/*
 * test_fuzz.c: the fuzz targets (fuzz/libfuzzer.c, fuzz/parsers.c) and
 * scripts/fuzz.sh, end to end. The targets are built by `make fuzz-targets`
 * (part of `make test`) under $RR_BUILDROOT/fuzz/.
 *
 * Per scenario: the libFuzzer target fuzzes a few hundred inputs of the
 * fixed variant from the scenario's seeds without a crash; the AFL++
 * (persistent, libAFLDriver) target runs every seed file directly; the
 * known-failure seed crashes both targets with the scenario's finding; and
 * `racerepro replay --scenario S SEED` replays it as a finding (exit 1), so a
 * crash file from either engine is a reproducer as it is. Plus: one real
 * afl-fuzz run, the parser target over its seeds, and fuzz.sh's input checks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

/* What each scenario's finding looks like in the fuzz target's output (the
 * ASan builds see use-after-free scenarios as ASan reports). */
static const struct {
	const char *scenario;
	const char *finding;
} scenarios[] = {
	{"broken_pipe", "write(m_post_fd, &buffer, 1)"},
	{"last_wqe_uaf", "heap-use-after-free"},
	{"cancel_uaf", "heap-use-after-free"},
	{"ftok_collision", "share one System V segment"},
	{"dtls_timer_rx", "heap-use-after-free"},
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

/* Runs a command that crashes, in the background so that its pid is known,
 * and removes the in-process scratch directory (harness/context.c) that a
 * crash leaves behind. Keeps the command's exit status. */
#define CRASH_RUN(cmd)                                                                            \
	"{ " cmd " & p=$!; wait $p; rc=$?; rm -rf /dev/shm/racerepro-$p-* /tmp/racerepro-$p-*; "  \
	"exit $rc; }"

static const char *root(void)
{
	const char *r = getenv("RR_BUILDROOT");
	return r && *r ? r : "build";
}

/* PATH made absolute (the commands below cd into a scratch directory). */
static const char *absolute(const char *path)
{
	static char paths[8][1024];
	static int next;
	char *p = paths[next++ % 8];
	if (path[0] == '/') {
		snprintf(p, 1024, "%s", path);
	} else {
		char cwd[512];
		if (!getcwd(cwd, sizeof cwd))
			fail_msg("getcwd failed");
		snprintf(p, 1024, "%s/%s", cwd, path);
	}
	return p;
}

static const char *target(const char *engine, const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/fuzz/%s/%s", root(), engine, name);
	if (access(p, X_OK) != 0)
		fail_msg("%s is missing: make fuzz-targets builds it", p);
	return absolute(p);
}

static const char *seeds(const char *scenario)
{
	char p[512];
	snprintf(p, sizeof p, "corpus/%s/seeds", scenario);
	return absolute(p);
}

/* The first seed whose name starts with known-failure, as an absolute path. */
static const char *known_failure(const char *scenario)
{
	char path[512] = "";
	char dir[256];
	snprintf(dir, sizeof dir, "corpus/%s/seeds", scenario);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("%s: cannot open (run the tests from the repository root)", dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "known-failure", 13)) {
			snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
			break;
		}
	closedir(d);
	if (!path[0])
		fail_msg("%s has no known-failure seed", dir);
	return absolute(path);
}

static void libfuzzer_fixed_runs(void **st)
{
	(void)st;
	for (size_t i = 0; i < NSCENARIOS; i++) {
		const char *s = scenarios[i].scenario;
		const char *dir = rrt_tmpdir();
		struct rrt_result r;
		int rc = rrt_run(&r,
				 "cd %s && mkdir corpus && RR_FUZZ_VARIANT=fixed %s "
				 "-runs=300 -seed=1 -max_len=4000 -timeout=30 corpus %s",
				 dir, target("libfuzzer", s), seeds(s));
		if (rc != 0 || !strstr(r.err, "Done 300 runs"))
			fail_msg("%s fixed, 300 runs: exit %d\n%s", s, rc, r.err);
		/* The interleaving feedback reached libFuzzer. */
		if (!strstr(r.err, "Extra Counters"))
			fail_msg("%s: libFuzzer saw no extra counters\n%s", s, r.err);
		rrt_free(&r);
	}
}

static void libfuzzer_tsan_fixed_runs(void **st)
{
	(void)st;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	int rc = rrt_run(&r,
			 "cd %s && mkdir corpus && RR_FUZZ_VARIANT=fixed %s -runs=300 -seed=1 "
			 "-timeout=30 corpus %s",
			 dir,
			 target("libfuzzer-tsan", "broken_pipe"), seeds("broken_pipe"));
	if (rc != 0 || !strstr(r.err, "Done 300 runs"))
		fail_msg("broken_pipe fixed under TSan: exit %d\n%s", rc, r.err);
	rrt_free(&r);
}

static void known_failure_crashes_libfuzzer(void **st)
{
	(void)st;
	for (size_t i = 0; i < NSCENARIOS; i++) {
		const char *s = scenarios[i].scenario;
		const char *dir = rrt_tmpdir();
		struct rrt_result r;
		int rc = rrt_run(&r, "cd %s && " CRASH_RUN("%s %s"), dir, target("libfuzzer", s),
				 known_failure(s));
		if (rc == 0 || !strstr(r.err, scenarios[i].finding))
			fail_msg("%s: the known failure did not crash the libFuzzer target with "
				 "'%s' (exit %d)\n%s",
				 s, scenarios[i].finding, rc, r.err);
		rrt_free(&r);
	}
}

static void known_failure_replays(void **st)
{
	(void)st;
	for (size_t i = 0; i < NSCENARIOS; i++) {
		const char *s = scenarios[i].scenario;
		/* The plain build, or ASan's where only ASan sees the finding. */
		const char *builds[] = {"none", "asan"};
		int ok = 0;
		char seen[2][2048];
		for (int b = 0; b < 2 && !ok; b++) {
			struct rrt_result r;
			int rc = rrt_run(&r, "%s replay --scenario %s %s", rrt_bin(builds[b]), s,
					 known_failure(s));
			/* ASan builds exit 66 if LeakSanitizer objects to the CLI itself. */
			ok = rc == 1 || (b == 1 && rc == 66 && strstr(r.out, "replayed") &&
					 !strstr(r.out, "no failure"));
			snprintf(seen[b], sizeof seen[b], "exit %d: %s%s", rc, r.out, r.err);
			rrt_free(&r);
		}
		if (!ok)
			fail_msg("%s: replay --scenario of the known failure did not find it\n"
				 "none: %s\nasan: %s",
				 s, seen[0], seen[1]);
	}
}

static void afl_target_runs_seeds(void **st)
{
	(void)st;
	for (size_t i = 0; i < NSCENARIOS; i++) {
		const char *s = scenarios[i].scenario;
		const char *dir = rrt_tmpdir();
		struct rrt_result r;
		/* Outside afl-fuzz, libAFLDriver runs each file given once. */
		int rc = rrt_run(&r,
				 "cd %s && for f in %s/*; do RR_FUZZ_VARIANT=fixed "
				 "%s \"$f\" || exit $?; done",
				 dir, seeds(s), target("afl", s));
		if (rc != 0)
			fail_msg("%s: AFL++ target on the seeds (fixed): exit %d\n%s", s, rc, r.err);
		rrt_free(&r);
		rc = rrt_run(&r, "cd %s && " CRASH_RUN("%s %s"), dir, target("afl", s),
			     known_failure(s));
		if (rc == 0 || !strstr(r.err, scenarios[i].finding))
			fail_msg("%s: the known failure did not crash the AFL++ target (exit %d)\n%s",
				 s, rc, r.err);
		rrt_free(&r);
	}
}

/* A real afl-fuzz run on broken_pipe in DIR, from one zero byte with the
 * schedule mutator alone, in the extra environment ENV (NAME=VALUE ...),
 * with -s SEED and at most EXECS executions; R's output is its fuzzer_stats
 * (and the exit status cat's, non-zero when afl-fuzz wrote none). */
static int afl_run_from_zero(struct rrt_result *r, const char *dir, const char *env, int seed,
			     int execs)
{
	char mutator[512];
	snprintf(mutator, sizeof mutator, "%s/fuzz/afl/libschedule-mutator.so", root());
	return rrt_run(r,
		       "cd %s && mkdir seeds && printf '\\0' >seeds/zero && %s "
		       "AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 "
		       "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_QUIET=1 "
		       "AFL_CUSTOM_MUTATOR_LIBRARY=%s AFL_CUSTOM_MUTATOR_ONLY=1 AFL_DISABLE_TRIM=1 "
		       "timeout 120 afl-fuzz -i seeds -o out -s %d -E %d -V 60 -t 60000 -m none -- %s "
		       "</dev/null >log 2>&1; cat out/default/fuzzer_stats",
		       dir, env, absolute(mutator), seed, execs, target("afl", "broken_pipe"));
}

/* fuzz/libfuzzer.c: the AFL++ target answers a repeat of the input it has
 * just run (afl-fuzz's calibration) from that run's map instead of running
 * the scenario again, and logs which it did (RR_FUZZ_RUN_LOG: 'r' ran, 'c'
 * answered). Outside afl-fuzz, libAFLDriver runs the files given in one
 * process, in order: A A B A B B is run, answer, run, run, run, answer.
 * RR_FUZZ_REPEATS=run runs every one; another value is refused. */
static void afl_target_answers_repeats(void **st)
{
	(void)st;
	const char *dir = rrt_tmpdir();
	const char *b = known_failure("broken_pipe"); /* any two different schedules */
	struct rrt_result r;
	int rc = rrt_run(&r,
			 "cd %s && printf '\\002\\001\\002\\003\\004\\005\\006\\007\\010' >A && "
			 "cp %s B && export RR_FUZZ_VARIANT=fixed && "
			 "RR_FUZZ_RUN_LOG=answered %s A A B A B B && "
			 "RR_FUZZ_REPEATS=run RR_FUZZ_RUN_LOG=ran %s A A B && "
			 "echo \"answered=$(cat answered) ran=$(cat ran)\"",
			 dir, b, target("afl", "broken_pipe"), target("afl", "broken_pipe"));
	if (rc != 0 || !strstr(r.out, "answered=rcrrrc ran=rrr"))
		fail_msg("AFL++ target's repeats: exit %d, want answered=rcrrrc ran=rrr\n%s\n%s", rc,
			 r.out, r.err);
	rrt_free(&r);
	rc = rrt_run(&r, "cd %s && RR_FUZZ_REPEATS=sometimes %s A", dir,
		     target("afl", "broken_pipe"));
	if (rc != 3 || !strstr(r.err, "RR_FUZZ_REPEATS=sometimes: use answer (the default) or run"))
		fail_msg("RR_FUZZ_REPEATS=sometimes: exit %d (want 3 and a one-line error)\n%s", rc,
			 r.err);
	rrt_free(&r);
}

/* The premise of answering repeats: a schedule replays with the same
 * coverage. afl-fuzz, running every calibration repeat for real
 * (RR_FUZZ_REPEATS=run), measures it: broken_pipe's buggy variant from one
 * zero byte with the schedule mutator, 300 executions, must be 100 % stable
 * with no variable bytes (a crash ends nothing here: afl-fuzz saves it and
 * goes on). */
static void afl_schedules_replay_stably(void **st)
{
	(void)st;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	int rc = afl_run_from_zero(&r, dir,
				   "RR_FUZZ_VARIANT=buggy RR_FUZZ_FEEDBACK=0 RR_FUZZ_REPEATS=run "
				   "AFL_FAST_CAL=1 AFL_NO_STARTUP_CALIBRATION=1",
				   7, 300);
	if (rc != 0 || !strstr(r.out, "execs_done"))
		fail_msg("afl-fuzz with repeats run: exit %d\n%s\n%s", rc, r.out, r.err);
	if (!strstr(r.out, "stability         : 100.00%") ||
	    !strstr(r.out, "var_byte_count    : 0\n"))
		fail_msg("a schedule did not replay with the same coverage\n%s", r.out);
	rrt_free(&r);
}

/* The search bench counts AFL++'s scenario runs from the target's run log
 * and keeps afl-fuzz's own count beside it (bench/search.c): three trials on
 * the hard cell at N = 2. In every trial the runs are at most afl-fuzz's
 * executions, and over the trials fewer (every first child is a new queue
 * entry whose three repeats are answered); the report has both counts. */
static void bench_counts_afl_scenario_runs(void **st)
{
	(void)st;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	char afl[512];
	snprintf(afl, sizeof afl, "%s/fuzz/afl", root());
	int rc = rrt_run(&r,
			 "%s --search --bin %s --cells 6 --contenders aflpp --ablation-cells none "
			 "--trials 3 --cap 300 --rate-iterations 0 --fixed-iterations 0 "
			 "--afl-dir %s --out %s/bs",
			 rrt_bin("none-bench"), rrt_bin("asan-test"), absolute(afl), dir);
	if (rc != 0)
		fail_msg("bench --search with aflpp: exit %d\n%s%s", rc, r.out, r.err);
	rrt_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/bs/bench-search.json", dir);
	json_t *j = rrt_load_json(path);
	json_t *a = json_object_get(
		json_object_get(json_array_get(json_object_get(j, "cells"), 0), "contenders"), "aflpp");
	assert_int_equal(json_integer_value(json_object_get(a, "trials")), 3);
	assert_int_equal(json_integer_value(json_object_get(a, "errors")), 0);
	json_t *detail = json_object_get(a, "trials_detail");
	json_t *execs = json_object_get(a, "afl_fuzz_execs");
	assert_int_equal(json_array_size(detail), 3);
	assert_int_equal(json_array_size(execs), 3);
	double runs = 0, counted = 0;
	for (size_t i = 0; i < 3; i++) {
		double t = json_number_value(json_object_get(json_array_get(detail, i), "t"));
		double x = json_number_value(json_array_get(execs, i));
		if (t < 1 || t > x)
			fail_msg("trial %zu: %.0f scenario runs against %.0f afl-fuzz executions", i, t,
				 x);
		runs += t;
		counted += x;
	}
	if (runs >= counted)
		fail_msg("no repeat was answered: %.0f runs, %.0f executions", runs, counted);
	json_decref(j);
	snprintf(path, sizeof path, "%s/bs/bench-search.md", dir);
	char *md = rrt_read_file(path);
	assert_non_null(strstr(md, "## AFL++: scenario runs and afl-fuzz's count"));
	free(md);
}

static void afl_fuzz_short_run(void **st)
{
	(void)st;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	int rc = rrt_run(&r,
			 "cd %s && mkdir seeds && cp %s/* seeds/ && "
			 "RR_FUZZ_VARIANT=fixed AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 "
			 "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_QUIET=1 "
			 "timeout 120 afl-fuzz -i seeds -o out -E 300 -V 30 -t 10000 -m none -- %s "
			 "</dev/null && cat out/default/fuzzer_stats",
			 dir, seeds("broken_pipe"), target("afl", "broken_pipe"));
	if (rc != 0 || !strstr(r.out, "execs_done"))
		fail_msg("afl-fuzz on broken_pipe (fixed): exit %d\n%s\n%s", rc, r.out, r.err);
	if (strstr(r.out, "saved_crashes     : 0") == NULL)
		fail_msg("afl-fuzz saw a crash in broken_pipe's fixed variant\n%s", r.out);
	rrt_free(&r);
}

/* fuzz/surw_share.h: under afl-fuzz, the schedule mutator's surw children
 * carry the weights the target learned (before, they carried none, since the
 * mutator runs inside afl-fuzz and the target's learning died with each
 * fork-server child). A real afl-fuzz run with the mutator from one zero
 * byte (whose children all start from surw): some queue entry the mutator
 * made is a surw schedule with expectations in its header. */
static void afl_mutator_shares_surw_weights(void **st)
{
	(void)st;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	int rc = afl_run_from_zero(&r, dir, "RR_FUZZ_VARIANT=fixed", 1, 200);
	if (rc != 0)
		fail_msg("afl-fuzz with the schedule mutator: exit %d\n%s", rc, r.err);
	rrt_free(&r);
	char qdir[1024];
	snprintf(qdir, sizeof qdir, "%s/out/default/queue", dir);
	DIR *d = opendir(qdir);
	if (!d)
		fail_msg("%s: no queue", qdir);
	int made = 0, weighted = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "id:", 3) || !strstr(de->d_name, "libschedule-mutator"))
			continue;
		made++;
		char path[1400];
		unsigned char h[13];
		snprintf(path, sizeof path, "%s/%s", qdir, de->d_name);
		FILE *f = fopen(path, "rb");
		/* Header (harness/schedule.h): [0] % 4 == 2 is surw, [12] the
		 * number of expectations that follow. */
		if (f && fread(h, 1, sizeof h, f) == sizeof h && h[0] % 4 == 2 && h[12] % 17 > 0)
			weighted++;
		if (f)
			fclose(f);
	}
	closedir(d);
	if (!made || !weighted)
		fail_msg("of %d queue entries the mutator made, %d are weighted surw schedules", made,
			 weighted);
}

static void parsers_run_seeds(void **st)
{
	(void)st;
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	/* The first folder is the one libFuzzer adds new inputs to: not the seeds. */
	int rc = rrt_run(&r, "cd %s && mkdir corpus && %s -runs=3000 -seed=1 -timeout=10 corpus %s", dir,
			 target("parsers", "parsers"), seeds("parsers"));
	if (rc != 0 || !strstr(r.err, "Done 3000 runs"))
		fail_msg("parser target: exit %d\n%s", rc, r.err);
	rrt_free(&r);
}

static void fuzz_sh_rejects_bad_input(void **st)
{
	(void)st;
	struct rrt_result r;
	int rc = rrt_run(&r, "scripts/fuzz.sh no_such_scenario libfuzzer 1s 1");
	assert_int_equal(rc, 2);
	assert_non_null(strstr(r.err, "unknown scenario 'no_such_scenario'"));
	rrt_free(&r);
	rc = rrt_run(&r, "scripts/fuzz.sh broken_pipe honggfuzz 1s 1");
	assert_int_equal(rc, 2);
	assert_non_null(strstr(r.err, "unknown engine 'honggfuzz'"));
	rrt_free(&r);
	rc = rrt_run(&r, "scripts/fuzz.sh broken_pipe libfuzzer soon 1");
	assert_int_equal(rc, 2);
	assert_non_null(strstr(r.err, "bad DURATION"));
	rrt_free(&r);
	rc = rrt_run(&r, "scripts/fuzz.sh '' libfuzzer 1s 1");
	assert_int_equal(rc, 2);
	rrt_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fuzz_sh_rejects_bad_input),
		cmocka_unit_test(parsers_run_seeds),
		cmocka_unit_test(known_failure_crashes_libfuzzer),
		cmocka_unit_test(known_failure_replays),
		cmocka_unit_test(libfuzzer_fixed_runs),
		cmocka_unit_test(libfuzzer_tsan_fixed_runs),
		cmocka_unit_test(afl_target_runs_seeds),
		cmocka_unit_test(afl_target_answers_repeats),
		cmocka_unit_test(afl_schedules_replay_stably),
		cmocka_unit_test(bench_counts_afl_scenario_runs),
		cmocka_unit_test(afl_fuzz_short_run),
		cmocka_unit_test(afl_mutator_shares_surw_weights),
	};
	RRT_MAIN(tests);
}
