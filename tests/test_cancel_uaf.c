/*
 * test_cancel_uaf.c: the cancel_uaf scenario and the completion port, end to
 * end.
 *
 * - buggy, plain build: ends in `bug`, the quarantine naming the freed
 *   ipc_pipe touched by ipc_send_cb on the reaper, on both backends;
 * - buggy, ASan build: ends in `sanitizer`, a heap-use-after-free whose stack
 *   names the completion callback ipc_send_cb, and the free in cancel_iterate;
 * - the stored reproducers (corpus/cancel_uaf/repro/: minimized input
 *   schedules per backend and build, and a random and a pct seed with
 *   preemptions) replay, also with replay --check 20, and the fixed variant
 *   survives the same schedules;
 * - fixed: thousands of iterations clean under plain, ASan and TSan builds,
 *   on io_uring and on the emulated port;
 * - the backend in use is in summary.json (cells[].env.backend), and an
 *   unknown backend is an environment error, not a finding;
 * - where io_uring_setup fails (simulated with a preloaded stand-in for
 *   liburing's setup call), auto falls back to the emulated port and says
 *   why, and --backend io_uring is a skip with that reason.
 *
 * Everything that must fail runs under a controlled strategy: `input` with an
 * empty schedule (every decision keeps the current thread, so app closes and
 * frees before the reaper runs), or a stored reproducer. Nothing depends on
 * the machine's timing. Fixed runs pass work_us=0: controlled strategies
 * order the steps whatever the work, which would only cost time.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define REPRO_DIR "corpus/cancel_uaf/repro"
#define PIPE_UAF                                                                                   \
	"heap-use-after-free: ipc_send_cb: nni_list_node_remove(&pipe->tx_aio) of ipc_pipe"
#define FAST "--param work_us=0"

static void expect_contains(const char *hay, const char *needle, const char *what)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("%s does not contain '%s':\n%s", what, needle, hay ? hay : "(null)");
}

/* Runs `racerepro run cancel_uaf --variant VARIANT ARGS` of BUILD into a fresh
 * report folder DIR, checks its exit status and returns its cell. */
static json_t *run_cell(const char *build, const char *variant, const char *args, int want_status,
			json_t **summary, char *dir, size_t dirlen)
{
	struct rrt_result r;
	char path[600];
	static int n;

	snprintf(dir, dirlen, "%s/run-%s-%s-%d", rrt_tmpdir(), build, variant, n++);
	rrt_run(&r, "%s run cancel_uaf --variant %s %s --quiet --out %s", rrt_bin(build), variant,
		args, dir);
	if (r.status != want_status)
		fail_msg("%s run cancel_uaf --variant %s %s: status %d, wanted %d\nstdout:\n%s\n"
			 "stderr:\n%s",
			 build, variant, args, r.status, want_status, r.out, r.err);
	rrt_free(&r);
	snprintf(path, sizeof(path), "%s/summary.json", dir);
	*summary = rrt_load_json(path);
	return rrt_cell(*summary, "cancel_uaf", variant);
}

/* Whether this machine runs the io_uring backend at all (containers may
 * forbid io_uring_setup); io_uring cases skip, saying why, when it does not. */
static int have_io_uring(void)
{
	static int known = -1;
	struct rrt_result r;

	if (known < 0) {
		const char *dir = rrt_tmpdir();
		char path[600];
		rrt_run(&r, "%s run cancel_uaf --variant fixed --strategy none --iterations 1 "
			    "--backend io_uring --quiet --out %s/probe",
			rrt_bin("none"), dir);
		if (r.status != 0)
			fail_msg("io_uring probe: status %d\n%s%s", r.status, r.out, r.err);
		rrt_free(&r);
		snprintf(path, sizeof(path), "%s/probe/summary.json", dir);
		json_t *summary = rrt_load_json(path);
		json_t *cell = rrt_cell(summary, "cancel_uaf", "fixed");
		const char *verdict = json_string_value(json_object_get(cell, "verdict"));
		known = !verdict || strcmp(verdict, "skipped") != 0;
		if (!known)
			fprintf(stderr, "io_uring backend unavailable, its cases skip: %s\n",
				json_string_value(json_object_get(cell, "skip_reason")));
		json_decref(summary);
	}
	return known;
}

static void need_backend(const char *backend)
{
	if (!strcmp(backend, "io_uring") && !have_io_uring())
		skip();
}

static const char *env_backend(json_t *cell)
{
	json_t *env = json_object_get(cell, "env");
	const char *b = json_string_value(json_object_get(env, "backend"));
	if (!b)
		fail_msg("cells[].env.backend is missing");
	return b;
}

/* The single signature of CELL, checked to be of class KLASS. */
static json_t *only_signature(json_t *cell, const char *klass)
{
	json_t *sigs = json_object_get(cell, "signatures");
	assert_int_equal(json_array_size(sigs), 1);
	json_t *sig = json_array_get(sigs, 0);
	assert_string_equal(json_string_value(json_object_get(sig, "class")), klass);
	return sig;
}

static void buggy_plain_on(const char *backend)
{
	char dir[512], args[128];
	json_t *summary;

	need_backend(backend);
	snprintf(args, sizeof(args), "--strategy input --input 00 --iterations 1 --backend %s",
		 backend);
	json_t *cell = run_cell("none", "buggy", args, 1, &summary, dir, sizeof(dir));
	assert_int_equal(rrt_outcome(cell, "bug"), 1);
	json_t *sig = only_signature(cell, "bug");
	const char *msg = json_string_value(json_object_get(sig, "message"));
	expect_contains(msg, PIPE_UAF, "signature message");
	expect_contains(msg, "freed by app", "signature message");
	expect_contains(msg, "touched by reaper", "signature message");
	if (strncmp(env_backend(cell), backend, strlen(backend)) != 0)
		fail_msg("env.backend is '%s', wanted %s", env_backend(cell), backend);
	json_decref(summary);
}

static void test_plain_buggy_bug_names_the_pipe_io_uring(void **state)
{
	(void)state;
	buggy_plain_on("io_uring");
}

static void test_plain_buggy_bug_names_the_pipe_emulated(void **state)
{
	(void)state;
	buggy_plain_on("emulated");
}

static void buggy_asan_on(const char *backend)
{
	char dir[512], args[128];
	struct rrt_result r;
	json_t *summary;

	need_backend(backend);
	snprintf(args, sizeof(args), "--strategy input --input 00 --iterations 1 --backend %s",
		 backend);
	json_t *cell = run_cell("asan", "buggy", args, 1, &summary, dir, sizeof(dir));
	assert_int_equal(rrt_outcome(cell, "sanitizer"), 1);
	json_t *sig = only_signature(cell, "sanitizer");
	expect_contains(json_string_value(json_object_get(sig, "message")),
			"AddressSanitizer: heap-use-after-free", "signature message");
	json_decref(summary);

	rrt_run(&r, "cat %s/failures/*/sanitizer.log", dir);
	assert_int_equal(r.status, 0);
	expect_contains(r.out, "ERROR: AddressSanitizer: heap-use-after-free", "sanitizer.log");
	/* The access is the callback's unlink, on the reaper; the free is app's. */
	char *access = strstr(r.out, "ERROR: AddressSanitizer");
	char *freed = access ? strstr(access, "freed by thread") : NULL;
	if (!access || !freed)
		fail_msg("no access and free stacks in sanitizer.log:\n%s", r.out);
	if (!memmem(access, (size_t)(freed - access), "ipc_send_cb", strlen("ipc_send_cb")) ||
	    !memmem(access, (size_t)(freed - access), "list_node_remove",
		    strlen("list_node_remove")) ||
	    !memmem(access, (size_t)(freed - access), "reaper_main", strlen("reaper_main")))
		fail_msg("the access stack does not name the callback:\n%s", r.out);
	expect_contains(freed, "cancel_iterate", "sanitizer.log (freed by)");
	expect_contains(r.out, "112-byte region", "sanitizer.log");
	rrt_free(&r);
}

static void test_asan_buggy_uaf_in_the_callback_io_uring(void **state)
{
	(void)state;
	buggy_asan_on("io_uring");
}

static void test_asan_buggy_uaf_in_the_callback_emulated(void **state)
{
	(void)state;
	buggy_asan_on("emulated");
}

/* A random schedule finds it too, and pct: each run's first failure is
 * the documented one and nothing else ever shows. */
static void test_plain_buggy_random_and_pct_find_only_the_uaf(void **state)
{
	(void)state;
	static const char *const strategies[] = {"random", "pct"};
	char dir[512], args[128];
	json_t *summary;

	for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
		snprintf(args, sizeof(args), "--strategy %s --seed 11 --iterations 200 " FAST,
			 strategies[i]);
		json_t *cell = run_cell("none", "buggy", args, 1, &summary, dir, sizeof(dir));
		long long bugs = rrt_outcome(cell, "bug");
		assert_true(bugs > 0);
		assert_int_equal(rrt_outcome(cell, "pass") + bugs, 200);
		json_t *sig = only_signature(cell, "bug");
		expect_contains(json_string_value(json_object_get(sig, "message")), PIPE_UAF,
				"signature message");
		json_decref(summary);
	}
}

static void test_stored_reproducers_replay(void **state)
{
	(void)state;
	struct rrt_result r;
	static const struct {
		const char *file, *build, *backend, *expect;
	} repros[] = {
	    {"buggy-io_uring-none.repro", "none", "io_uring", PIPE_UAF},
	    {"buggy-emulated-none.repro", "none", "emulated", PIPE_UAF},
	    {"buggy-io_uring-none-random.repro", "none", "io_uring", PIPE_UAF},
	    {"buggy-emulated-none-pct.repro", "none", "emulated", PIPE_UAF},
	    {"buggy-io_uring-asan.repro", "asan", "io_uring", "heap-use-after-free"},
	    {"buggy-emulated-asan.repro", "asan", "emulated", "heap-use-after-free"},
	};

	for (size_t i = 0; i < sizeof(repros) / sizeof(repros[0]); i++) {
		if (!strcmp(repros[i].backend, "io_uring") && !have_io_uring())
			continue;
		rrt_run(&r, "%s replay " REPRO_DIR "/%s", rrt_bin(repros[i].build), repros[i].file);
		if (r.status != 1)
			fail_msg("replay %s: status %d\n%s%s", repros[i].file, r.status, r.out, r.err);
		expect_contains(r.out, repros[i].expect, "replay output");
		expect_contains(r.out, "the recorded failure showed again", "replay output");
		rrt_free(&r);

		rrt_run(&r, "%s replay " REPRO_DIR "/%s --check 20", rrt_bin(repros[i].build),
			repros[i].file);
		if (r.status != 0)
			fail_msg("replay --check 20 %s: status %d\n%s%s", repros[i].file, r.status,
				 r.out, r.err);
		expect_contains(r.out, "20 of 20 runs identical", "replay --check output");
		expect_contains(r.out, "the recorded failure showed again", "replay --check output");
		rrt_free(&r);
	}
}

static void test_fixed_survives_the_failing_schedule(void **state)
{
	(void)state;
	struct rrt_result r;
	static const char *const files[] = {"buggy-io_uring-none.repro", "buggy-emulated-none.repro",
					    "buggy-io_uring-none-random.repro",
					    "buggy-emulated-none-pct.repro"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[512];

		if (strstr(files[i], "io_uring") && !have_io_uring())
			continue;
		snprintf(path, sizeof(path), "%s/fixed-%s", rrt_tmpdir(), files[i]);
		rrt_run(&r, "sed 's/^variant buggy$/variant fixed/' " REPRO_DIR "/%s > %s", files[i],
			path);
		assert_int_equal(r.status, 0);
		rrt_free(&r);
		rrt_run(&r, "%s replay %s --check 5", rrt_bin("none"), path);
		if (r.status != 0)
			fail_msg("fixed replay of %s: status %d\n%s%s", files[i], r.status, r.out,
				 r.err);
		expect_contains(r.out, "5 of 5 runs identical", "fixed replay output");
		rrt_free(&r);
	}
}

/* Fixed, clean: every iteration passes, on both backends, and the report
 * says which backend ran. */
static void fixed_clean(const char *build, const char *strategy, int iterations)
{
	static const char *const backends[] = {"io_uring", "emulated"};
	char dir[512], args[160];
	json_t *summary;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (!strcmp(backends[i], "io_uring") && !have_io_uring())
			continue;
		snprintf(args, sizeof(args), "--strategy %s --seed 7 --iterations %d --backend %s " FAST,
			 strategy, iterations, backends[i]);
		json_t *cell = run_cell(build, "fixed", args, 0, &summary, dir, sizeof(dir));
		assert_int_equal(rrt_outcome(cell, "pass"), iterations);
		assert_int_equal(json_array_size(json_object_get(cell, "signatures")), 0);
		const char *b = env_backend(cell);
		if (strncmp(b, backends[i], strlen(backends[i])) != 0)
			fail_msg("%s: env.backend is '%s', wanted %s", build, b, backends[i]);
		json_decref(summary);
	}
}

static void test_fixed_clean_plain(void **state)
{
	(void)state;
	fixed_clean("none", "random", 3000);
	fixed_clean("none", "pct", 1000);
}

static void test_fixed_clean_asan(void **state)
{
	(void)state;
	fixed_clean("asan", "random", 2000);
}

static void test_fixed_clean_tsan(void **state)
{
	(void)state;
	fixed_clean("tsan", "random", 2000);
	fixed_clean("tsan", "pct", 500);
}

/* auto picks a backend and says which; emulated says it was asked for. */
static void test_backend_recorded_in_summary(void **state)
{
	(void)state;
	char dir[512];
	json_t *summary;

	json_t *cell = run_cell("none", "fixed", "--strategy random --seed 3 --iterations 10 " FAST,
				0, &summary, dir, sizeof(dir));
	const char *b = env_backend(cell);
	if (strncmp(b, "io_uring", 8) != 0 && strncmp(b, "emulated (", 10) != 0)
		fail_msg("auto: env.backend is '%s'", b);
	json_decref(summary);

	cell = run_cell("none", "fixed",
			"--strategy random --seed 3 --iterations 10 --param backend=emulated " FAST,
			0, &summary, dir, sizeof(dir));
	assert_string_equal(env_backend(cell), "emulated (asked for)");
	json_decref(summary);
}

static void test_unknown_backend_is_an_environment_error(void **state)
{
	(void)state;
	char dir[512];
	json_t *summary;

	json_t *cell = run_cell("none", "fixed", "--strategy none --iterations 2 --backend iocp",
				3, &summary, dir, sizeof(dir));
	assert_int_equal(rrt_outcome(cell, "bug"), 0);
	assert_true(rrt_outcome(cell, "error") > 0);
	json_t *sig = only_signature(cell, "error");
	expect_contains(json_string_value(json_object_get(sig, "message")), "backend=iocp",
			"signature message");
	json_decref(summary);
}

/* A machine where io_uring_setup fails (seccomp, kernel.io_uring_disabled),
 * made with a preloaded liburing stand-in: auto falls back to the emulated
 * port and says why; asking for io_uring by name is a skip with the reason. */
static void test_without_io_uring_auto_falls_back_and_io_uring_skips(void **state)
{
	(void)state;
	const char *tmp = rrt_tmpdir();
	char shim[512], dir[512], path[600];
	struct rrt_result r;

	snprintf(shim, sizeof(shim), "%s/no_uring.so", tmp);
	rrt_run(&r,
		"printf '%%s\\n' '#include <errno.h>' 'struct io_uring; struct io_uring_params;' "
		"'int io_uring_queue_init_params(unsigned e, struct io_uring *r, struct "
		"io_uring_params *p);' 'int io_uring_queue_init_params(unsigned e, struct io_uring "
		"*r, struct io_uring_params *p) { (void)e; (void)r; (void)p; return -EPERM; }' "
		"> %s.c && cc -shared -fPIC -o %s %s.c",
		shim, shim, shim);
	if (r.status != 0)
		fail_msg("building the stand-in: status %d\n%s%s", r.status, r.out, r.err);
	rrt_free(&r);

	snprintf(dir, sizeof(dir), "%s/no-uring-auto", tmp);
	rrt_run(&r,
		"LD_PRELOAD=%s %s run cancel_uaf --variant fixed --strategy random --seed 5 "
		"--iterations 50 " FAST " --quiet --out %s",
		shim, rrt_bin("none"), dir);
	if (r.status != 0)
		fail_msg("auto without io_uring: status %d\n%s%s", r.status, r.out, r.err);
	rrt_free(&r);
	snprintf(path, sizeof(path), "%s/summary.json", dir);
	json_t *summary = rrt_load_json(path);
	json_t *cell = rrt_cell(summary, "cancel_uaf", "fixed");
	assert_int_equal(rrt_outcome(cell, "pass"), 50);
	assert_string_equal(env_backend(cell),
			    "emulated (io_uring_queue_init: Operation not permitted)");
	json_decref(summary);

	snprintf(dir, sizeof(dir), "%s/no-uring-named", tmp);
	rrt_run(&r,
		"LD_PRELOAD=%s %s run cancel_uaf --variant fixed --strategy random --seed 5 "
		"--iterations 5 --backend io_uring --quiet --out %s",
		shim, rrt_bin("none"), dir);
	if (r.status != 0)
		fail_msg("io_uring by name without io_uring: status %d\n%s%s", r.status, r.out,
			 r.err);
	rrt_free(&r);
	snprintf(path, sizeof(path), "%s/summary.json", dir);
	summary = rrt_load_json(path);
	cell = rrt_cell(summary, "cancel_uaf", "fixed");
	assert_string_equal(json_string_value(json_object_get(cell, "verdict")), "skipped");
	expect_contains(json_string_value(json_object_get(cell, "skip_reason")),
			"io_uring unavailable: io_uring_queue_init: Operation not permitted",
			"skip_reason");
	assert_int_equal(rrt_outcome(cell, "error"), 0);
	json_decref(summary);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_buggy_bug_names_the_pipe_io_uring),
		cmocka_unit_test(test_plain_buggy_bug_names_the_pipe_emulated),
		cmocka_unit_test(test_asan_buggy_uaf_in_the_callback_io_uring),
		cmocka_unit_test(test_asan_buggy_uaf_in_the_callback_emulated),
		cmocka_unit_test(test_plain_buggy_random_and_pct_find_only_the_uaf),
		cmocka_unit_test(test_stored_reproducers_replay),
		cmocka_unit_test(test_fixed_survives_the_failing_schedule),
		cmocka_unit_test(test_fixed_clean_plain),
		cmocka_unit_test(test_fixed_clean_asan),
		cmocka_unit_test(test_fixed_clean_tsan),
		cmocka_unit_test(test_backend_recorded_in_summary),
		cmocka_unit_test(test_unknown_backend_is_an_environment_error),
		cmocka_unit_test(test_without_io_uring_auto_falls_back_and_io_uring_skips),
	};
	RRT_MAIN(tests);
}
