/*
 * test_dtls_timer_rx.c: the dtls_timer_rx scenario end to end.
 *
 * - `list` shows the scenario, its three variants and its parameters;
 * - buggy, plain build: the retransmit timer handler on main touches the
 *   tls_conn that rx freed (the quarantine names it) or dies in OpenSSL;
 * - buggy, ASan build: `sanitizer`, among them upstream's SIGSEGV at 0x30 in
 *   BIO_copy_next_retry under BIO_ctrl, called from the timer handler;
 * - the stored reproducers (corpus/dtls_timer_rx/repro/) replay in their
 *   builds, the plain ones with replay --check 20, and the fixed and
 *   main_thread variants survive the same schedules;
 * - the mirror ordering (main hangs up while rx is inside the handshake)
 *   replays from its own reproducer;
 * - fixed and main_thread: a few hundred iterations clean under plain, ASan
 *   and TSan builds, with controlled strategies and plain looping.
 *
 * Everything that must fail is driven by a controlled strategy with a fixed
 * seed or by a stored schedule, so nothing here depends on the machine's
 * timing. The peer's latency (peer_latency_us) is a real sleep under plain
 * looping only, so the controlled runs cost no waiting.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define SCENARIO "dtls_timer_rx"
#define REPRO_DIR "corpus/dtls_timer_rx/repro"
/* The CLI process itself (not the worker) leaks in the ASan build's replay
 * command (reported to the harness owner); the worker's findings are what
 * these tests look at. */
#define ASAN_ENV "ASAN_OPTIONS=detect_leaks=0"

static void expect_contains(const char *hay, const char *needle, const char *what)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("%s does not contain '%s':\n%s", what, needle, hay ? hay : "(null)");
}

/* Runs `racerepro run` in BUILD into a fresh folder; checks the exit status
 * and returns the summary (caller decrefs) and the folder. */
static json_t *run_summary(const char *build, const char *variant, const char *args,
			   int want_status, char *dir, size_t dirlen)
{
	struct rrt_result r;
	char path[600];
	static int n;

	snprintf(dir, dirlen, "%s/run-%s-%s-%d", rrt_tmpdir(), build, variant, n++);
	rrt_run(&r, "%s %s run " SCENARIO " --variant %s %s --quiet --out %s",
		strcmp(build, "asan") ? "" : ASAN_ENV, rrt_bin(build), variant, args, dir);
	if (r.status != want_status)
		fail_msg("%s run " SCENARIO " --variant %s %s: status %d, wanted %d\nstdout:\n%s\n"
			 "stderr:\n%s",
			 build, variant, args, r.status, want_status, r.out, r.err);
	rrt_free(&r);
	snprintf(path, sizeof path, "%s/summary.json", dir);
	return rrt_load_json(path);
}

/* Does any signature's message in CELL contain NEEDLE? */
static int any_signature_contains(json_t *cell, const char *needle)
{
	json_t *sigs = json_object_get(cell, "signatures");
	size_t i;
	json_t *sig;

	json_array_foreach(sigs, i, sig) {
		const char *m = json_string_value(json_object_get(sig, "message"));
		const char *s = json_string_value(json_object_get(sig, "signature"));
		if ((m && strstr(m, needle)) || (s && strstr(s, needle)))
			return 1;
	}
	return 0;
}

static void test_list_shows_variants_and_params(void **state)
{
	(void)state;
	struct rrt_result r;

	assert_int_equal(rrt_run(&r, "%s list", rrt_bin("none")), 0);
	expect_contains(r.out, SCENARIO, "list");
	expect_contains(r.out, "baresip/baresip#3175", "list");
	expect_contains(r.out, "main_thread", "list");
	expect_contains(r.out, "retransmit_us=10000", "list");
	expect_contains(r.out, "peer_latency_us=2000", "list");
	expect_contains(r.out, "hangup_us", "list");
	rrt_free(&r);
}

static void test_plain_buggy_timer_touches_freed_conn(void **state)
{
	(void)state;
	char dir[512];
	json_t *summary = run_summary("none", "buggy", "--strategy pct --seed 11 --iterations 40",
				      1, dir, sizeof dir);
	json_t *cell = rrt_cell(summary, SCENARIO, "buggy");

	assert_true(rrt_outcome(cell, "bug") + rrt_outcome(cell, "crash") > 0);
	assert_int_equal(rrt_outcome(cell, "error"), 0);
	/* main's timer path on the connection rx freed, named by the quarantine */
	if (!any_signature_contains(cell, "of tls_conn (") ||
	    !any_signature_contains(cell, "freed by rx) touched by main"))
		fail_msg("no tls_conn use-after-free by main in %s/summary.json", dir);
	json_decref(summary);
}

static void test_asan_buggy_ends_in_sanitizer(void **state)
{
	(void)state;
	char dir[512];
	json_t *summary = run_summary("asan", "buggy", "--strategy pct --seed 11 --iterations 30",
				      1, dir, sizeof dir);
	json_t *cell = rrt_cell(summary, SCENARIO, "buggy");

	assert_true(rrt_outcome(cell, "sanitizer") > 0);
	assert_int_equal(rrt_outcome(cell, "error"), 0);
	assert_int_equal(rrt_outcome(cell, "sanitizer") + rrt_outcome(cell, "crash") +
				 rrt_outcome(cell, "pass"),
			 30);
	/* upstream's crash: a SEGV at 0x30 in BIO_copy_next_retry under the
	 * timer handler's DTLSv1_handle_timeout */
	if (!any_signature_contains(cell, "SEGV:BIO_test_flags<BIO_copy_next_retry"))
		fail_msg("no SEGV in BIO_copy_next_retry in %s/summary.json", dir);
	json_decref(summary);
}

/* Replays FILE (relative to REPRO_DIR) in its build; returns the output. */
static char *replay(const char *build, const char *file, const char *extra, int want_status)
{
	struct rrt_result r;
	char *out;

	rrt_run(&r, "%s %s replay " REPRO_DIR "/%s %s 2>&1",
		strcmp(build, "asan") ? "" : ASAN_ENV, rrt_bin(build), file, extra);
	if (r.status != want_status)
		fail_msg("replay %s %s (%s): status %d, wanted %d\n%s", file, extra, build,
			 r.status, want_status, r.out);
	out = strdup(r.out);
	rrt_free(&r);
	assert_non_null(out);
	return out;
}

static void test_plain_reproducers_replay_exactly(void **state)
{
	(void)state;
	static const struct {
		const char *file, *ending;
	} cases[] = {
		{"none-uaf-timer-check_timer.repro",
		 "timeout: check_timer(tc) of tls_conn (2256 bytes, allocated by main, freed by rx) "
		 "touched by main"},
		{"none-uaf-timer-bio_write.repro",
		 "bio_write of tls_conn (2256 bytes, allocated by main, freed by rx) touched by main"},
		{"none-uaf-timer-taken-before-close.repro",
		 "timeout of tls_conn (2256 bytes, allocated by main, freed by rx) touched by main"},
		{"none-crash-timer-freed-ssl.repro", "SIGSEGV"},
		/* the mirror: main hung up and freed tc while rx was inside the
		 * handshake with the peer's alert */
		{"none-mirror-rx-after-hangup.repro",
		 "conn_recv: after SSL_do_handshake of tls_conn (2256 bytes, allocated by main, "
		 "freed by main) touched by rx"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = replay("none", cases[i].file, "", 1);

		expect_contains(out, cases[i].ending, cases[i].file);
		free(out);
		out = replay("none", cases[i].file, "--check 20", 0);
		expect_contains(out, "20 of 20 runs identical", cases[i].file);
		expect_contains(out, cases[i].ending, cases[i].file);
		free(out);
	}
}

static void test_sanitizer_reproducers_replay(void **state)
{
	(void)state;
	static const struct {
		const char *build, *file, *needle;
	} cases[] = {
		{"asan", "asan-segv-0x30-BIO_copy_next_retry.repro",
		 "SEGV on unknown address 0x000000000030"},
		{"asan", "asan-segv-null-ssl.repro", "SEGV on unknown address"},
		{"asan", "asan-uaf-bio_out_write.repro", "heap-use-after-free"},
		/* sendto reading OpenSSL's write buffer that rx's SSL_free freed */
		{"asan", "asan-uaf-sendto-freed-buffer.repro", "heap-use-after-free"},
		{"asan", "asan-uaf-check_timer.repro", "heap-use-after-free"},
		{"asan", "asan-uaf-tmr_start.repro", "heap-use-after-free"},
		{"tsan", "tsan-race.repro", "ThreadSanitizer: data race"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *out = replay(cases[i].build, cases[i].file, "", 1);

		expect_contains(out, cases[i].needle, cases[i].file);
		expect_contains(out, "the recorded failure showed again", cases[i].file);
		free(out);
	}
	{
		char *out = replay("asan", "asan-segv-0x30-BIO_copy_next_retry.repro", "--check 3", 0);

		expect_contains(out, "3 of 3 runs identical", "asan --check 3");
		free(out);
	}
}

/* The buggy schedules, replayed against the fixes: the same decisions, no
 * finding. */
static void test_fixes_survive_the_buggy_schedules(void **state)
{
	(void)state;
	static const char *const files[] = {
		"none-uaf-timer-check_timer.repro",      "none-uaf-timer-bio_write.repro",
		"none-uaf-timer-taken-before-close.repro", "none-crash-timer-freed-ssl.repro",
		"none-mirror-rx-after-hangup.repro",
	};
	static const char *const fixes[] = {"fixed", "main_thread"};

	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		for (size_t f = 0; f < 2; f++) {
			struct rrt_result r;
			char path[600];

			snprintf(path, sizeof path, "%s/%s-%s", rrt_tmpdir(), fixes[f], files[i]);
			assert_int_equal(rrt_run(&r, "sed 's/^variant buggy$/variant %s/' " REPRO_DIR
						  "/%s > %s && grep -q '^variant %s$' %s",
						 fixes[f], files[i], path, fixes[f], path),
					 0);
			rrt_free(&r);
			rrt_run(&r, "%s replay %s 2>&1", rrt_bin("none"), path);
			if (r.status != 0)
				fail_msg("%s on %s's schedule: status %d\n%s", fixes[f], files[i],
					 r.status, r.out);
			rrt_free(&r);
		}
	}
}

/* A fixed variant, clean in BUILD under pct, random and plain looping. */
static void fix_is_clean(const char *build, const char *variant)
{
	static const struct {
		const char *args;
		long long iterations;
	} runs[] = {
		{"--strategy pct --seed 5 --iterations 120", 120},
		{"--strategy random --seed 5 --iterations 120", 120},
		{"--strategy none --seed 5 --iterations 30", 30},
	};

	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		char dir[512];
		json_t *summary = run_summary(build, variant, runs[i].args, 0, dir, sizeof dir);
		json_t *cell = rrt_cell(summary, SCENARIO, variant);

		assert_int_equal(rrt_outcome(cell, "pass"), runs[i].iterations);
		json_decref(summary);
	}
}

static void test_fixed_clean_plain(void **state)
{
	(void)state;
	fix_is_clean("none", "fixed");
	fix_is_clean("none", "main_thread");
}

static void test_fixed_clean_asan(void **state)
{
	(void)state;
	fix_is_clean("asan", "fixed");
	fix_is_clean("asan", "main_thread");
}

static void test_fixed_clean_tsan(void **state)
{
	(void)state;
	fix_is_clean("tsan", "fixed");
	fix_is_clean("tsan", "main_thread");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_shows_variants_and_params),
		cmocka_unit_test(test_plain_buggy_timer_touches_freed_conn),
		cmocka_unit_test(test_asan_buggy_ends_in_sanitizer),
		cmocka_unit_test(test_plain_reproducers_replay_exactly),
		cmocka_unit_test(test_sanitizer_reproducers_replay),
		cmocka_unit_test(test_fixes_survive_the_buggy_schedules),
		cmocka_unit_test(test_fixed_clean_plain),
		cmocka_unit_test(test_fixed_clean_asan),
		cmocka_unit_test(test_fixed_clean_tsan),
	};

	RRT_MAIN(tests);
}
