/*
 * test_exec.c: `racerepro exec` and `racerepro cc` on the small programs in
 * tests/programs/, each a known concurrency bug with a correct twin (-DFIXED).
 *
 * For each program and each build of it (plain, ASan, TSan; the shutdown
 * use-after-free has no oracle without a sanitizer, so no plain build):
 * - the bug is found by pct within a bounded number of schedules, with a
 *   fixed seed (the runs are deterministic: the schedules are the seed's);
 * - the twin stays clean over a bounded number of schedules;
 * - the saved reproducer replays identically (replay --check).
 * The memory-level bugs (a lost update, a flag published before its payload)
 * are built with `racerepro cc`: no pthread call lies in their windows. The
 * window after a free is reached through the point after free: by the
 * preload in the plain build, by racerepro cc's --wrap=free under a
 * sanitizer. A lost wakeup through the condition variables' GLIBC_2.2.5
 * versions is a deadlock like the current ones'. A bug names the program's
 * thread that failed, never the harness. A program with its own allocator
 * in a shared library gets its pointers freed by that allocator.
 * Besides: the ABBA deadlock is reported as hang:deadlock naming both
 * threads, both locks and their call sites, not by the watchdog; explain
 * names threads by start routine and steps by file:line; a program blocking
 * in a raw futex ends in a nondeterministic note, not a hung run; a thread
 * waiting in select or pselect parks on readiness, not released; replay
 * refuses a changed binary; a program with 256 threads runs under control;
 * bad input to exec and cc fails with one line.
 *
 * The larger numbers (twins over 10,000 schedules, replay --check 100) are
 * measured by hand: see README "Your own program".
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

/* SYNC_C: clang as is (the preload alone); MEM_C/MEM_CXX: racerepro cc/c++;
 * SAN_CC_C: clang as is without a sanitizer, racerepro cc with one (a
 * sanitizer's free in the executable hides the runtime's: only cc's
 * --wrap=free makes free a point there). */
enum lang { SYNC_C, MEM_C, MEM_CXX, SAN_CC_C };

struct program {
	const char *name;
	const char *src;
	enum lang lang;
	const char *bug_flag; /* how the buggy build differs (the twin gets -DFIXED) */
	/* Expected signature prefixes per build (none, asan, tsan), '|'
	 * between alternatives; NULL: the build is not tested. */
	const char *sig[3];
	int found_within; /* schedules */
	const char *in_role; /* a bug names the thread that failed: "(in ROLE)" */
};

static const struct program programs[] = {
	{"abba", "abba.c", SYNC_C, "", {"hang:deadlock", "hang:deadlock",
	  "hang:deadlock|sanitizer:tsan:lock-order-inversion"}, 300, NULL},
	{"lost_wakeup", "lost_wakeup.c", SYNC_C, "", {"hang:deadlock", "hang:deadlock",
	  "sanitizer:tsan:data race|hang:deadlock"}, 300, NULL},
	{"lost_update", "lost_update.c", MEM_C, "", {"bug:exit status 1: lost update",
	  "bug:exit status 1: lost update", "sanitizer:tsan:data race"}, 300, "main"},
	{"publish", "publish.c", MEM_C, "", {"bug:Assertion", "bug:Assertion",
	  "sanitizer:tsan:data race"}, 300, "t2:reader"},
	{"shutdown_uaf", "shutdown_uaf.c", SYNC_C, "", {NULL,
	  "sanitizer:asan:heap-use-after-free", "sanitizer:tsan:heap-use-after-free"}, 300, NULL},
	{"static_local", "static_local.cc", MEM_CXX, "-fno-threadsafe-statics",
	 {"bug:exit status 1: static local", "bug:exit status 1: static local",
	  "sanitizer:tsan:data race|bug:exit status 1: static local"}, 300, "main"},
	/* Found only through the point after free (see the program). */
	{"free_window", "free_window.c", SAN_CC_C, "", {"bug:exit status 1: use after free",
	  "sanitizer:asan:heap-use-after-free",
	  "sanitizer:tsan:data race|sanitizer:tsan:heap-use-after-free"}, 300, "t2:reader"},
	/* The condition variables' GLIBC_2.2.5 versions, bound with .symver. */
	{"cond_compat", "cond_compat.c", SYNC_C, "", {"hang:deadlock", "hang:deadlock",
	  "sanitizer:tsan:data race|hang:deadlock"}, 300, NULL},
};

static const char *const builds[3] = {"none", "asan", "tsan"};
static const char *const san_flag[3] = {"", "-fsanitize=address", "-fsanitize=thread"};

static char bin[PATH_MAX], srcdir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	if (!realpath(rrt_bin("none"), bin) || !realpath("tests/programs", srcdir))
		fail_msg("run from the repository root after make (build/none/racerepro)");
	return 0;
}

/* Builds PROGRAM for BUILD (0..2), the twin when FIXED; returns its path. */
static const char *build_program(const struct program *p, int build, int fixed)
{
	static char out[8][PATH_MAX];
	static int next;
	char *path = out[next++ % 8];
	snprintf(path, PATH_MAX, "%s/%s_%s%s", rrt_tmpdir(), p->name, builds[build],
		 fixed ? "_fixed" : "");
	if (access(path, X_OK) == 0)
		return path;
	const char *variant = fixed ? "-DFIXED" : p->bug_flag;
	struct rrt_result r;
	if (p->lang == MEM_C || p->lang == MEM_CXX || (p->lang == SAN_CC_C && build > 0))
		rrt_run(&r, "%s %s -g -O1 %s %s %s/%s -o %s", bin, p->lang == MEM_CXX ? "c++" : "cc",
			san_flag[build], variant, srcdir, p->src, path);
	else
		rrt_run(&r, "clang -g -O1 -rdynamic -pthread %s %s %s/%s -o %s", san_flag[build],
			variant, srcdir, p->src, path);
	if (r.status != 0)
		fail_msg("building %s: %s", path, r.err);
	rrt_free(&r);
	return path;
}

static int sig_matches(const char *sig, const char *alternatives)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", alternatives);
	for (char *save = NULL, *a = strtok_r(buf, "|", &save); a; a = strtok_r(NULL, "|", &save))
		if (!strncmp(sig, a, strlen(a)))
			return 1;
	return 0;
}

/* Runs exec on PROG; returns the parsed summary.json. */
static json_t *exec_run(const char *prog, const char *opts, const char *out, int want_status)
{
	struct rrt_result r;
	rrt_run(&r, "cd %s && %s exec --quiet --out %s %s -- %s", rrt_tmpdir(), bin, out, opts,
		prog);
	if (r.status != want_status)
		fail_msg("exec %s %s: exit %d, expected %d\n%s%s", opts, prog, r.status, want_status,
			 r.out, r.err);
	rrt_free(&r);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/summary.json", out);
	return rrt_load_json(path);
}

static json_t *only_cell(json_t *summary)
{
	json_t *cells = json_object_get(summary, "cells");
	assert_int_equal(json_array_size(cells), 1);
	return json_array_get(cells, 0);
}

static void check_bug(const struct program *p, int build)
{
	const char *prog = build_program(p, build, 0);
	char out[PATH_MAX], opts[128];
	snprintf(out, sizeof out, "%s/run-%s-%s", rrt_tmpdir(), p->name, builds[build]);
	snprintf(opts, sizeof opts, "--strategy pct --seed 7 --iterations %d --stop-on-failure",
		 p->found_within);
	json_t *s = exec_run(prog, opts, out, 1);
	json_t *cell = only_cell(s);
	json_t *sigs = json_object_get(cell, "signatures");
	assert_true(json_array_size(sigs) >= 1);
	json_t *first = json_array_get(sigs, 0);
	const char *sig = json_string_value(json_object_get(first, "signature"));
	if (!sig_matches(sig, p->sig[build]))
		fail_msg("%s (%s): found '%s', expected %s", p->name, builds[build], sig,
			 p->sig[build]);
	/* A bug names the program's thread that failed, or the program: never
	 * the harness. */
	const char *msg = json_string_value(json_object_get(first, "message"));
	if (!strncmp(sig, "bug:", 4)) {
		char in[64];
		snprintf(in, sizeof in, "(in %s)", p->in_role ? p->in_role : "");
		if (!msg || strstr(msg, "(in racerepro)") || (p->in_role && !strstr(msg, in)))
			fail_msg("%s (%s): the finding names the wrong thread: %s", p->name,
				 builds[build], msg ? msg : "(none)");
	}
	long long at = json_integer_value(json_object_get(first, "first_iteration"));
	assert_true(at >= 1 && at <= p->found_within);
	/* The reproducer replays the same interleaving every time. */
	char repro[PATH_MAX + 300];
	snprintf(repro, sizeof repro, "%s/%s", out,
		 json_string_value(json_object_get(first, "repro")));
	struct rrt_result r;
	rrt_run(&r, "cd %s && %s replay --check 3 %s", rrt_tmpdir(), bin, repro);
	if (r.status != 0 || !strstr(r.out, "3 of 3 runs identical") ||
	    !strstr(r.out, "the recorded failure showed again"))
		fail_msg("replay --check of %s (%s): exit %d\n%s%s", p->name, builds[build], r.status,
			 r.out, r.err);
	rrt_free(&r);
	json_decref(s);
}

static void check_twin(const struct program *p, int build, int iterations)
{
	const char *prog = build_program(p, build, 1);
	char out[PATH_MAX], opts[128];
	snprintf(out, sizeof out, "%s/twin-%s-%s", rrt_tmpdir(), p->name, builds[build]);
	snprintf(opts, sizeof opts, "--variant fixed --strategy portfolio --seed 11 --iterations %d",
		 iterations);
	json_t *s = exec_run(prog, opts, out, 0);
	json_t *cell = only_cell(s);
	assert_int_equal(json_integer_value(json_object_get(cell, "iterations")), iterations);
	assert_int_equal(rrt_outcome(cell, "pass"), iterations);
	assert_string_equal(json_string_value(json_object_get(cell, "verdict")), "clean");
	json_decref(s);
}

static void matrix(int build, int twin_iterations)
{
	for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
		if (!programs[i].sig[build])
			continue;
		check_bug(&programs[i], build);
		check_twin(&programs[i], build, twin_iterations);
	}
}

static void test_plain(void **state)
{
	(void)state;
	matrix(0, 100);
}

static void test_asan(void **state)
{
	(void)state;
	matrix(1, 20);
}

static void test_tsan(void **state)
{
	(void)state;
	matrix(2, 20);
}

/* The deadlock names both threads (creation order, start routine), both
 * locks and where each thread waits; the scheduler sees it, not the
 * watchdog (whose limit here is a minute). explain symbolizes the steps. */
static void test_deadlock_report(void **state)
{
	(void)state;
	const char *prog = build_program(&programs[0], 0, 0);
	char out[PATH_MAX];
	snprintf(out, sizeof out, "%s/deadlock", rrt_tmpdir());
	json_t *s = exec_run(prog, "--seed 7 --iterations 300 --stop-on-failure --timeout 60s", out, 1);
	json_t *first = json_array_get(json_object_get(only_cell(s), "signatures"), 0);
	assert_string_equal(json_string_value(json_object_get(first, "signature")), "hang:deadlock");
	const char *msg = json_string_value(json_object_get(first, "message"));
	static const char *const needles[] = {"t1:transfer_ab", "t2:transfer_ba", "lock_a", "lock_b",
					      "abba.c:14", "abba.c:30"};
	for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
		if (!strstr(msg, needles[i]))
			fail_msg("deadlock message lacks '%s': %s", needles[i], msg);
	struct rrt_result r;
	rrt_run(&r, "cd %s && %s explain %s/%s", rrt_tmpdir(), bin, out,
		json_string_value(json_object_get(first, "repro")));
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "t1:transfer_ab"));
	assert_non_null(strstr(r.out, "mutex lock_a at abba.c:"));
	rrt_free(&r);
	/* minimize shortens it to an input schedule that still deadlocks. */
	char shorter[PATH_MAX + 16];
	snprintf(shorter, sizeof shorter, "%s/short.repro", out);
	rrt_run(&r, "cd %s && %s minimize %s/%s -o %s", rrt_tmpdir(), bin, out,
		json_string_value(json_object_get(first, "repro")), shorter);
	if (r.status != 0 || !strstr(r.out, "minimized hang:deadlock"))
		fail_msg("minimize: exit %d\n%s%s", r.status, r.out, r.err);
	rrt_free(&r);
	rrt_run(&r, "%s replay %s", bin, shorter);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "the recorded failure showed again"));
	rrt_free(&r);
	json_decref(s);
}

/* A raw futex the runtime cannot see: the iteration is released and noted,
 * and the run ends (exit 0: nothing failed); the twin gets no such note. */
static void test_uninterposed_call(void **state)
{
	(void)state;
	static const struct program hw = {"hidden_wait", "hidden_wait.c", SYNC_C, "", {""}, 0, NULL};
	for (int fixed = 0; fixed < 2; fixed++) {
		char out[PATH_MAX];
		snprintf(out, sizeof out, "%s/hidden-%d", rrt_tmpdir(), fixed);
		json_t *s = exec_run(build_program(&hw, 0, fixed), "--seed 7 --iterations 10", out, 0);
		json_t *cell = only_cell(s);
		assert_int_equal(rrt_outcome(cell, "pass"), 10);
		json_t *note = json_object_get(json_object_get(cell, "env"), "nondeterministic");
		if (fixed) {
			assert_null(note);
		} else {
			assert_non_null(note);
			assert_non_null(strstr(json_string_value(note), "blocked in futex"));
		}
		json_decref(s);
	}
}

/* A thread waiting in select, then pselect, on a pipe another thread writes
 * later parks on readiness (its timeouts virtual): no iteration is released
 * to free-running, in any build, and select's answers hold (the program
 * checks the count, the sets and the time left). */
static void test_select(void **state)
{
	(void)state;
	static const struct program sw = {"select_wait", "select_wait.c", SYNC_C, "", {""}, 0, NULL};
	for (int build = 0; build < 3; build++) {
		char out[PATH_MAX];
		snprintf(out, sizeof out, "%s/select-%s", rrt_tmpdir(), builds[build]);
		json_t *s = exec_run(build_program(&sw, build, 1), "--strategy pct --seed 7 --iterations 20",
				     out, 0);
		json_t *cell = only_cell(s);
		assert_int_equal(rrt_outcome(cell, "pass"), 20);
		json_t *note = json_object_get(json_object_get(cell, "env"), "nondeterministic");
		if (note)
			fail_msg("select_wait (%s) released: %s", builds[build], json_string_value(note));
		json_decref(s);
	}
}

/* The free in free_window's failing schedule is a step of its own, taken by
 * the owner after the free and before it clears the pointer: by the preload
 * in the plain build, by racerepro cc's __wrap_free under ASan. */
static void test_free_point(void **state)
{
	(void)state;
	const struct program *fw = NULL;
	for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++)
		if (!strcmp(programs[i].name, "free_window"))
			fw = &programs[i];
	assert_non_null(fw);
	for (int build = 0; build < 2; build++) {
		char out[PATH_MAX];
		snprintf(out, sizeof out, "%s/free-%s", rrt_tmpdir(), builds[build]);
		json_t *s = exec_run(build_program(fw, build, 0),
				     "--strategy pct --seed 7 --iterations 300 --stop-on-failure", out, 1);
		json_t *first = json_array_get(json_object_get(only_cell(s), "signatures"), 0);
		struct rrt_result r;
		rrt_run(&r, "cd %s && %s explain %s/%s", rrt_tmpdir(), bin, out,
			json_string_value(json_object_get(first, "repro")));
		assert_int_equal(r.status, 1);
		if (!strstr(r.out, "t1:owner   free ") || !strstr(r.out, "at free_window.c:"))
			fail_msg("no free step by the owner (%s):\n%s", builds[build], r.out);
		/* The worker's rows are the program's, not the harness's. */
		char row[64];
		snprintf(row, sizeof row, " free_window_%s start ", builds[build]);
		assert_null(strstr(r.out, " racerepro "));
		if (!strstr(r.out, row))
			fail_msg("the worker's rows are not named after the program:\n%s", r.out);
		rrt_free(&r);
		json_decref(s);
	}
}

/* An allocator in a shared library the program links: the preloaded free
 * hands its pointers back to it, not to glibc's free (which aborts on them),
 * under a controlled strategy too. */
static void test_own_allocator(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir(); /* a new one at each call */
	char prog[PATH_MAX], out[PATH_MAX];
	snprintf(prog, sizeof prog, "%s/own_alloc", dir);
	snprintf(out, sizeof out, "%s/own-alloc", dir);
	struct rrt_result r;
	rrt_run(&r, "clang -O1 -fPIC -shared -DALLOCATOR %s/own_alloc.c -o %s/libownalloc.so && "
		    "clang -g -O1 -rdynamic -pthread %s/own_alloc.c -L%s -lownalloc -Wl,-rpath,%s -o %s",
		srcdir, dir, srcdir, dir, dir, prog);
	if (r.status != 0)
		fail_msg("building own_alloc: %s", r.err);
	rrt_free(&r);
	json_t *s = exec_run(prog, "--strategy pct --seed 7 --iterations 5", out, 0);
	assert_int_equal(rrt_outcome(only_cell(s), "pass"), 5);
	json_decref(s);
}

/* replay refuses another binary with one line, exit 3. */
static void test_changed_binary(void **state)
{
	(void)state;
	const char *prog = build_program(&programs[0], 0, 0);
	char copy[PATH_MAX], out[PATH_MAX];
	snprintf(copy, sizeof copy, "%s/abba_copy", rrt_tmpdir());
	snprintf(out, sizeof out, "%s/changed", rrt_tmpdir());
	struct rrt_result r;
	rrt_run(&r, "cp %s %s", prog, copy);
	assert_int_equal(r.status, 0);
	rrt_free(&r);
	json_t *s = exec_run(copy, "--seed 7 --iterations 300 --stop-on-failure", out, 1);
	json_t *first = json_array_get(json_object_get(only_cell(s), "signatures"), 0);
	char repro[PATH_MAX + 300];
	snprintf(repro, sizeof repro, "%s/%s", out, json_string_value(json_object_get(first, "repro")));
	rrt_run(&r, "printf x >> %s && %s replay %s", copy, bin, repro);
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.err, "changed since the reproducer was saved"));
	assert_null(strchr(strchr(r.err, '\n') + 1, '\n')); /* one line */
	rrt_free(&r);
	json_decref(s);
}

/* 256 threads of one program are slots of one schedule. */
static void test_many_threads(void **state)
{
	(void)state;
	static const struct program many = {"many_threads", "many_threads.c", SYNC_C, "", {""}, 0, NULL};
	char out[PATH_MAX];
	snprintf(out, sizeof out, "%s/many", rrt_tmpdir());
	json_t *s = exec_run(build_program(&many, 0, 1), "--strategy random --seed 3 --iterations 3",
			     out, 0);
	assert_int_equal(rrt_outcome(only_cell(s), "pass"), 3);
	json_decref(s);
}

/* A program in the nightly matrix: expected to pass, so the buggy build is a
 * regression (exit 1) and the twin is clean (exit 0). */
static void test_nightly_exec(void **state)
{
	(void)state;
	for (int fixed = 0; fixed < 2; fixed++) {
		const char *prog = build_program(&programs[1], 0, fixed);
		char out[PATH_MAX];
		snprintf(out, sizeof out, "%s/nightly-%d", rrt_tmpdir(), fixed);
		struct rrt_result r;
		rrt_run(&r, "scripts/nightly-soak.sh --san none --no-scenarios --exec '%s' --list-cells",
			prog);
		assert_int_equal(r.status, 0);
		assert_string_equal(r.out, "0 none exec0 fixed\n");
		rrt_free(&r);
		rrt_run(&r, "scripts/nightly-soak.sh --san none --no-scenarios --exec '%s' --budget 4s "
			    "--out %s",
			prog, out);
		if (r.status != (fixed ? 0 : 1))
			fail_msg("nightly with %s: exit %d\n%s", prog, r.status, r.err);
		assert_true(fixed || strstr(r.err, "REGRESSION none exec:") != NULL);
		rrt_free(&r);
	}
}

static void test_bad_input(void **state)
{
	(void)state;
	struct rrt_result r;
	rrt_run(&r, "%s exec --iterations 1", bin);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "put it after '--'"));
	rrt_free(&r);
	rrt_run(&r, "%s exec -- /nonexistent/prog", bin);
	assert_int_equal(r.status, 2);
	rrt_free(&r);
	rrt_run(&r, "%s exec -- no-such-program-on-path", bin);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "not found"));
	rrt_free(&r);
	rrt_run(&r, "RR_CC=/nonexistent/clang %s cc x.c", bin);
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.err, "cannot run"));
	rrt_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_deadlock_report),
		cmocka_unit_test(test_uninterposed_call),
		cmocka_unit_test(test_changed_binary),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_free_point),
		cmocka_unit_test(test_own_allocator),
		cmocka_unit_test(test_many_threads),
		cmocka_unit_test(test_nightly_exec),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_asan),
		cmocka_unit_test(test_tsan),
	};
	if (setup(NULL))
		return 1;
	RRT_MAIN(tests);
}
