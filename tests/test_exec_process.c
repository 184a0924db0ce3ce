/*
 * test_exec_process.c: `racerepro exec` across processes and crashes.
 * - A program that dies of SIGSEGV leaves backtrace.txt in its failure folder
 *   with gdb's backtraces of every thread, naming the crashing function by
 *   file:line, and no core in the working directory; without gdb the file
 *   says so and keeps the runtime's raw frames. The twin stays clean.
 * - --follow-exec: a wrapper script that runs a deadlocking program (without
 *   exec) gets it found as hang:deadlock naming the program's threads and
 *   locks, replayed identically from a reproducer that records the flag; the
 *   twin behind the same wrapper stays clean. Without the flag the wrapper's
 *   child runs without the runtime (checked through its environment). The
 *   ABBA program behind a wrapper, built plain, with ASan and with TSan, is
 *   found and replays identically.
 * - --no-fork with an exec target is a usage error (exit 2), in one line.
 * All runs use controlled strategies with fixed seeds: deterministic.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

static char bin[PATH_MAX], srcdir[PATH_MAX];
static const char *tmp; /* one folder for the programs, scripts and reports */

/* Builds tests/programs/SRC (the twin with -DFIXED) into the temp folder,
 * with SAN's flag (NULL: plain) as NAME. */
static const char *build_san(const char *src, const char *name, int fixed, const char *san)
{
	static char out[8][PATH_MAX];
	static int next;
	char *path = out[next++ % 8];
	snprintf(path, PATH_MAX, "%s/%s%s", tmp, name, fixed ? "_fixed" : "");
	if (access(path, X_OK) == 0)
		return path;
	struct rrt_result r;
	rrt_run(&r, "clang -g -O1 -rdynamic -pthread %s %s %s/%s -o %s", san ? san : "",
		fixed ? "-DFIXED" : "", srcdir, src, path);
	if (r.status != 0)
		fail_msg("building %s: %s", path, r.err);
	rrt_free(&r);
	return path;
}

static const char *build(const char *src, const char *name, int fixed)
{
	return build_san(src, name, fixed, NULL);
}

/* An executable shell script NAME with BODY after the #! line. */
static const char *script(const char *name, const char *body)
{
	static char path[4][PATH_MAX];
	static int next;
	char *p = path[next++ % 4];
	snprintf(p, PATH_MAX, "%s/%s", tmp, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(p, 0700), 0);
	return p;
}

/* exec OPTS -- PROG in the temp folder (ENV before the command); checks the
 * exit status and returns the first cell of summary.json (with *SUMMARY set
 * for json_decref). */
static json_t *exec_run(const char *env, const char *opts, const char *prog, const char *out,
			int want, json_t **summary)
{
	struct rrt_result r;
	rrt_run(&r, "cd %s && %s %s exec --quiet --out %s %s -- %s", tmp, env, bin, out,
		opts, prog);
	if (r.status != want)
		fail_msg("exec %s -- %s: exit %d, expected %d\n%s%s", opts, prog, r.status, want,
			 r.out, r.err);
	rrt_free(&r);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/summary.json", out);
	*summary = rrt_load_json(path);
	json_t *cells = json_object_get(*summary, "cells");
	assert_int_equal(json_array_size(cells), 1);
	return json_array_get(cells, 0);
}

static json_t *first_sig(json_t *cell)
{
	json_t *sigs = json_object_get(cell, "signatures");
	assert_true(json_array_size(sigs) >= 1);
	return json_array_get(sigs, 0);
}

/* OUT/<the signature's folder>/FILE, read (malloc'd), or NULL. */
static char *failure_file(const char *out, json_t *sig, const char *file)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/%s", out, json_string_value(json_object_get(sig, "repro")));
	char *slash = strrchr(path, '/');
	assert_non_null(slash);
	snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "%s", file);
	return rrt_read_file(path);
}

static void replay_check(const char *out, json_t *sig, const char *want_sig)
{
	struct rrt_result r;
	rrt_run(&r, "cd %s && %s replay --check 3 %s/%s", tmp, bin, out,
		json_string_value(json_object_get(sig, "repro")));
	if (r.status != 0 || !strstr(r.out, "3 of 3 runs identical") || !strstr(r.out, want_sig) ||
	    !strstr(r.out, "the recorded failure showed again"))
		fail_msg("replay --check of %s: exit %d\n%s%s", out, r.status, r.out, r.err);
	rrt_free(&r);
}

/* No core file in the folder the program ran in. */
static void no_core_in(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "core", 4))
			fail_msg("a core file was left in %s: %s", dir, de->d_name);
	closedir(d);
}

static void test_crash_backtrace(void **state)
{
	(void)state;
	const char *prog = build("crash_race.c", "crash_race", 0);
	char out[PATH_MAX];
	snprintf(out, sizeof out, "%s/crash", tmp);
	json_t *summary;
	json_t *cell = exec_run("", "--strategy pct --seed 7 --iterations 200 --stop-on-failure",
				prog, out, 1, &summary);
	json_t *sig = first_sig(cell);
	assert_string_equal(json_string_value(json_object_get(sig, "signature")), "crash:SIGSEGV");
	char *bt = failure_file(out, sig, "backtrace.txt");
	if (!bt)
		fail_msg("no backtrace.txt in the crash's failure folder");
	static const char *const needles[] = {"<signal handler called>", "send_on",
					      "crash_race.c:23", "in sender", "Thread 2"};
	for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
		if (!strstr(bt, needles[i]))
			fail_msg("backtrace.txt lacks '%s':\n%s", needles[i], bt);
	free(bt);
	no_core_in(tmp);
	replay_check(out, sig, "crash:SIGSEGV");
	json_decref(summary);

	snprintf(out, sizeof out, "%s/crash-twin", tmp);
	cell = exec_run("", "--variant fixed --strategy portfolio --seed 11 --iterations 50",
			build("crash_race.c", "crash_race", 1), out, 0, &summary);
	assert_int_equal(rrt_outcome(cell, "pass"), 50);
	json_decref(summary);
}

/* gdb not on PATH: backtrace.txt says so and keeps the runtime's frames. */
static void test_crash_without_gdb(void **state)
{
	(void)state;
	const char *prog = build("crash_race.c", "crash_race", 0);
	char out[PATH_MAX];
	snprintf(out, sizeof out, "%s/crash-nogdb", tmp);
	json_t *summary;
	json_t *cell = exec_run("PATH=/nonexistent",
				"--strategy pct --seed 7 --iterations 200 --stop-on-failure", prog,
				out, 1, &summary);
	json_t *sig = first_sig(cell);
	assert_string_equal(json_string_value(json_object_get(sig, "signature")), "crash:SIGSEGV");
	char *bt = failure_file(out, sig, "backtrace.txt");
	if (!bt || !strstr(bt, "no gdb backtrace") || !strstr(bt, "racerepro-rt: #0 "))
		fail_msg("backtrace.txt without gdb:\n%s", bt ? bt : "(missing)");
	free(bt);
	no_core_in(tmp);
	json_decref(summary);
}

/* A wrapper that runs the ABBA program as a child and waits for it. */
static void test_follow_exec(void **state)
{
	(void)state;
	build("abba.c", "abba", 0);
	build("abba.c", "abba", 1);
	const char *wrapper = script("run_abba.sh", "echo starting >&2\n./abba\nst=$?\n"
						    "echo done >&2\nexit $st\n");
	char out[PATH_MAX];
	snprintf(out, sizeof out, "%s/follow", tmp);
	json_t *summary;
	json_t *cell = exec_run("",
				"--follow-exec --strategy pct --seed 7 --iterations 300 "
				"--stop-on-failure --timeout 60s",
				wrapper, out, 1, &summary);
	json_t *sig = first_sig(cell);
	assert_string_equal(json_string_value(json_object_get(sig, "signature")), "hang:deadlock");
	const char *msg = json_string_value(json_object_get(sig, "message"));
	static const char *const needles[] = {"main waits on wait p1", "p1 waits on join t1:transfer_ab",
					      "t2:transfer_ba", "lock_a", "lock_b", "abba.c:14",
					      "abba.c:30"};
	for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
		if (!strstr(msg, needles[i]))
			fail_msg("deadlock message lacks '%s': %s", needles[i], msg);
	char *repro = failure_file(out, sig, "failure.repro");
	assert_non_null(repro);
	assert_non_null(strstr(repro, "param follow_exec=1\n"));
	free(repro);
	replay_check(out, sig, "hang:deadlock");
	json_decref(summary);

	const char *twin = script("run_abba_fixed.sh", "./abba_fixed\n./abba_fixed\n");
	snprintf(out, sizeof out, "%s/follow-twin", tmp);
	cell = exec_run("", "--follow-exec --variant fixed --strategy portfolio --seed 11 "
			    "--iterations 50",
			twin, out, 0, &summary);
	assert_int_equal(rrt_outcome(cell, "pass"), 50);
	assert_null(json_object_get(json_object_get(cell, "env"), "nondeterministic"));
	json_decref(summary);
}

/* The ABBA program behind a wrapper, built plain, with ASan and with TSan:
 * found and replayed. (Not the lost wakeup: under a sanitizer its consumer
 * runs free until its first point and may read the flag before it, a limit
 * of sanitizer builds that makes its replays differ.) */
static void test_follow_exec_builds(void **state)
{
	(void)state;
	static const char *const sans[3][3] = {
		{"none", "", "hang:deadlock"},
		{"asan", "-fsanitize=address", "hang:deadlock"},
		{"tsan", "-fsanitize=thread", "hang:deadlock|sanitizer:tsan:lock-order-inversion"}};
	for (int b = 0; b < 3; b++) {
		char name[64], body[128], wname[64], out[PATH_MAX];
		snprintf(name, sizeof name, "abba_%s", sans[b][0]);
		build_san("abba.c", name, 0, sans[b][1]);
		snprintf(body, sizeof body, "./%s\n", name);
		snprintf(wname, sizeof wname, "run_%s.sh", name);
		const char *wrapper = script(wname, body);
		snprintf(out, sizeof out, "%s/follow-%s", tmp, sans[b][0]);
		json_t *summary;
		json_t *cell = exec_run("", "--follow-exec --strategy pct --seed 7 --iterations 300 "
					    "--stop-on-failure --timeout 60s",
					wrapper, out, 1, &summary);
		json_t *sig = first_sig(cell);
		const char *got = json_string_value(json_object_get(sig, "signature"));
		char alts[128];
		snprintf(alts, sizeof alts, "%s", sans[b][2]);
		int ok = 0;
		for (char *save = NULL, *a = strtok_r(alts, "|", &save); a; a = strtok_r(NULL, "|", &save))
			ok |= !strncmp(got, a, strlen(a));
		if (!ok)
			fail_msg("abba (%s) behind a wrapper: '%s', expected %s", sans[b][0], got,
				 sans[b][2]);
		if (!strncmp(got, "hang:", 5)) {
			replay_check(out, sig, got);
		} else {
			/* TSan's report waits for its symbolizer through a pipe; on a
			 * loaded machine that can outlast the stall limit and release
			 * the iteration (README, Limits), so --check could diverge
			 * after the report: the failure must show again. */
			struct rrt_result r;
			rrt_run(&r, "cd %s && %s replay %s/%s", tmp, bin, out,
				json_string_value(json_object_get(sig, "repro")));
			if (r.status != 1 || !strstr(r.out, "the recorded failure showed again"))
				fail_msg("replay of %s: exit %d\n%s%s", out, r.status, r.out, r.err);
			rrt_free(&r);
		}
		json_decref(summary);
	}
}

/* Whether the wrapper's child has the runtime: it exits 3 when it does. */
static void test_follow_exec_off(void **state)
{
	(void)state;
	const char *wrapper = script("has_rt.sh", "sh -c 'case \"$LD_PRELOAD\" in "
						  "*libracerepro-rt*) exit 3;; esac'\n");
	char out[PATH_MAX];
	json_t *summary;
	snprintf(out, sizeof out, "%s/follow-off", tmp);
	json_t *cell = exec_run("", "--strategy pct --seed 7 --iterations 5", wrapper, out, 0,
				&summary);
	assert_int_equal(rrt_outcome(cell, "pass"), 5);
	json_decref(summary);
	snprintf(out, sizeof out, "%s/follow-on", tmp);
	cell = exec_run("", "--follow-exec --strategy pct --seed 7 --iterations 5", wrapper, out, 1,
			&summary);
	assert_string_equal(json_string_value(json_object_get(first_sig(cell), "signature")),
			    "bug:exit status 3: (no output)");
	json_decref(summary);
}

static void test_no_fork(void **state)
{
	(void)state;
	struct rrt_result r;
	rrt_run(&r, "cd %s && %s exec --no-fork --iterations 1 -- /bin/true", tmp, bin);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--no-fork does not apply to exec"));
	assert_true(strchr(r.err, '\n') == r.err + strlen(r.err) - 1); /* one line */
	rrt_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_fork),
		cmocka_unit_test(test_crash_backtrace),
		cmocka_unit_test(test_crash_without_gdb),
		cmocka_unit_test(test_follow_exec),
		cmocka_unit_test(test_follow_exec_off),
		cmocka_unit_test(test_follow_exec_builds),
	};
	tmp = rrt_tmpdir();
	if (!realpath(rrt_bin("none"), bin) || !realpath("tests/programs", srcdir)) {
		fprintf(stderr, "run from the repository root after make (build/none/racerepro)\n");
		return 1;
	}
	RRT_MAIN(tests);
}
