/*
 * test_last_wqe_uaf.c: the last_wqe_uaf scenario end to end.
 *
 * - buggy, plain build: ends in `bug`, a heap-use-after-free of the
 *   328-byte nvmf_rdma_qpair reported by the quarantine oracle;
 * - buggy, ASan build: ends in `sanitizer`, a heap-use-after-free WRITE of
 *   size 8 in nvmf_rdma_qpair_process_last_wqe_event, the object freed by
 *   nvmf_rdma_qpair_destroy under the same handler, as upstream's report;
 * - the stored reproducers (corpus/last_wqe_uaf/repro/) replay, also with
 *   replay --check 20, and the fixed variant survives the same schedule;
 * - fixed: thousands of iterations clean under plain, ASan and TSan builds;
 * - no_indirection (the 2019 ancestor): a read of the freed qpair in the
 *   message, by the quarantine and by ASan, and TSan's report of the flag the
 *   acceptor writes and the poller reads.
 *
 * Everything that must fail is driven by a controlled strategy with a fixed
 * seed or by a stored schedule, so nothing here depends on the machine's
 * timing. The fixed runs pass cqe_work_us=0 and connected_us=0: controlled
 * strategies order the steps regardless of the work, which only costs time.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define REPRO_DIR "corpus/last_wqe_uaf/repro"
#define QPAIR_UAF "heap-use-after-free: write of last_wqe_reached_ctx of nvmf_rdma_qpair (328 bytes"
#define FAST "--param cqe_work_us=0 --param connected_us=0"

static void expect_contains(const char *hay, const char *needle, const char *what)
{
	if (!hay || !strstr(hay, needle))
		fail_msg("%s does not contain '%s':\n%s", what, needle, hay ? hay : "(null)");
}

static json_t *load_summary(const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/summary.json", dir);
	return rrt_load_json(path);
}

/* Runs BIN with ARGS into a fresh report folder and returns its cell. */
static json_t *run_cell(const char *build, const char *variant, const char *args, int want_status,
			json_t **summary, char *dir, size_t dirlen)
{
	struct rrt_result r;
	static int n;

	snprintf(dir, dirlen, "%s/run-%s-%s-%d", rrt_tmpdir(), build, variant, n++);
	rrt_run(&r, "%s run last_wqe_uaf --variant %s %s --out %s", rrt_bin(build), variant, args,
		dir);
	if (r.status != want_status)
		fail_msg("%s run last_wqe_uaf --variant %s %s: status %d, wanted %d\nstdout:\n%s\n"
			 "stderr:\n%s",
			 build, variant, args, r.status, want_status, r.out, r.err);
	rrt_free(&r);
	*summary = load_summary(dir);
	return rrt_cell(*summary, "last_wqe_uaf", variant);
}

static void test_plain_buggy_ends_in_bug_naming_the_qpair(void **state)
{
	(void)state;
	char dir[512];
	json_t *summary;
	json_t *cell = run_cell("none", "buggy", "--strategy pct --seed 1 --iterations 300", 1,
				&summary, dir, sizeof(dir));

	long long bugs = rrt_outcome(cell, "bug");
	assert_true(bugs > 0);
	assert_int_equal(rrt_outcome(cell, "pass") + bugs, 300);
	json_t *sigs = json_object_get(cell, "signatures");
	assert_int_equal(json_array_size(sigs), 1);
	json_t *sig = json_array_get(sigs, 0);
	assert_string_equal(json_string_value(json_object_get(sig, "class")), "bug");
	expect_contains(json_string_value(json_object_get(sig, "message")), QPAIR_UAF,
			"the signature's message");
	expect_contains(json_string_value(json_object_get(sig, "message")), "freed by owner",
			"the signature's message");
	json_decref(summary);
}

static void test_asan_buggy_is_a_write_of_size_8_in_the_handler(void **state)
{
	(void)state;
	char dir[512];
	json_t *summary;
	struct rrt_result r;
	/* An empty input schedule: the owner runs until it blocks, so the
	 * drain finishes before the acceptor sends its message. */
	json_t *cell = run_cell("asan", "buggy", "--strategy input --iterations 1", 1, &summary,
				dir, sizeof(dir));

	assert_int_equal(rrt_outcome(cell, "sanitizer"), 1);
	json_decref(summary);
	rrt_run(&r, "cat %s/failures/*/sanitizer.log", dir);
	assert_int_equal(r.status, 0);
	expect_contains(r.out, "ERROR: AddressSanitizer: heap-use-after-free", "sanitizer.log");
	expect_contains(r.out, "WRITE of size 8", "sanitizer.log");
	expect_contains(r.out, "#0 ", "sanitizer.log");
	/* The faulting frame is the message handler, run from the ring. */
	char *write_at = strstr(r.out, "WRITE of size 8");
	char *frame0 = write_at ? strstr(write_at, "#0 ") : NULL;
	char *eol = frame0 ? strchr(frame0, '\n') : NULL;
	if (!frame0 || !eol || !memmem(frame0, (size_t)(eol - frame0),
				       "nvmf_rdma_qpair_process_last_wqe_event",
				       strlen("nvmf_rdma_qpair_process_last_wqe_event")))
		fail_msg("frame #0 of the WRITE is not the message handler:\n%s", r.out);
	expect_contains(r.out, "msg_queue_run_batch", "sanitizer.log");
	expect_contains(r.out, "328-byte region", "sanitizer.log");
	expect_contains(r.out, "nvmf_rdma_qpair_destroy", "sanitizer.log (freed by)");
	rrt_free(&r);
}

static void test_stored_reproducers_replay(void **state)
{
	(void)state;
	struct rrt_result r;
	static const char *const files[] = {"buggy-plain.repro", "buggy-plain-pct.repro"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		rrt_run(&r, "%s replay " REPRO_DIR "/%s", rrt_bin("none"), files[i]);
		if (r.status != 1)
			fail_msg("replay %s: status %d\n%s%s", files[i], r.status, r.out, r.err);
		expect_contains(r.out, QPAIR_UAF, "replay output");
		expect_contains(r.out, "the recorded failure showed again", "replay output");
		rrt_free(&r);

		rrt_run(&r, "%s replay " REPRO_DIR "/%s --check 20", rrt_bin("none"), files[i]);
		if (r.status != 0)
			fail_msg("replay --check 20 %s: status %d\n%s%s", files[i], r.status, r.out,
				 r.err);
		expect_contains(r.out, "20 of 20 runs identical", "replay --check output");
		expect_contains(r.out, "the recorded failure showed again", "replay --check output");
		rrt_free(&r);
	}

	rrt_run(&r, "%s replay " REPRO_DIR "/buggy-asan.repro", rrt_bin("asan"));
	if (r.status != 1)
		fail_msg("asan replay: status %d\n%s%s", r.status, r.out, r.err);
	expect_contains(r.out, "the recorded failure showed again", "asan replay output");
	rrt_free(&r);
}

static void test_fixed_survives_the_failing_schedule(void **state)
{
	(void)state;
	struct rrt_result r;
	static const char *const files[] = {"buggy-plain.repro", "buggy-plain-pct.repro"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/fixed-%s", rrt_tmpdir(), files[i]);
		rrt_run(&r, "sed 's/^variant buggy$/variant fixed/' " REPRO_DIR "/%s > %s", files[i],
			path);
		assert_int_equal(r.status, 0);
		rrt_free(&r);
		rrt_run(&r, "%s replay %s", rrt_bin("none"), path);
		if (r.status != 0)
			fail_msg("fixed replay of %s: status %d\n%s%s", files[i], r.status, r.out,
				 r.err);
		expect_contains(r.out, "no failure", "fixed replay output");
		rrt_free(&r);
	}
}

static void test_no_indirection_reads_the_freed_qpair(void **state)
{
	(void)state;
	struct rrt_result r;

	rrt_run(&r, "%s replay " REPRO_DIR "/no_indirection-plain.repro --check 20",
		rrt_bin("none"));
	if (r.status != 0)
		fail_msg("replay --check 20: status %d\n%s%s", r.status, r.out, r.err);
	expect_contains(r.out, "20 of 20 runs identical", "replay --check output");
	expect_contains(r.out, "heap-use-after-free: read of to_close of nvmf_rdma_qpair",
			"replay --check output");
	rrt_free(&r);

	rrt_run(&r, "%s replay " REPRO_DIR "/no_indirection-plain-pct.repro", rrt_bin("none"));
	if (r.status != 1)
		fail_msg("replay pct: status %d\n%s%s", r.status, r.out, r.err);
	rrt_free(&r);

	rrt_run(&r, "%s replay " REPRO_DIR "/no_indirection-asan.repro", rrt_bin("asan"));
	if (r.status != 1)
		fail_msg("asan replay: status %d\n%s%s", r.status, r.out, r.err);
	expect_contains(r.out, "nvmf_rdma_destroy_drained_qpair", "asan replay output");
	rrt_free(&r);
}

static void test_no_indirection_flag_race_under_tsan(void **state)
{
	(void)state;
	char dir[512];
	json_t *summary;
	json_t *cell = run_cell("tsan", "no_indirection", "--strategy pct --seed 1 --iterations 100",
				1, &summary, dir, sizeof(dir));

	assert_true(rrt_outcome(cell, "sanitizer") > 0);
	json_t *sigs = json_object_get(cell, "signatures");
	int race = 0;
	for (size_t i = 0; i < json_array_size(sigs); i++) {
		const char *m = json_string_value(json_object_get(json_array_get(sigs, i), "message"));
		if (m && strstr(m, "ThreadSanitizer: data race"))
			race = 1;
	}
	assert_true(race);
	json_decref(summary);
}

static void expect_clean(const char *build, const char *args, long long iterations)
{
	char dir[512];
	json_t *summary;
	json_t *cell = run_cell(build, "fixed", args, 0, &summary, dir, sizeof(dir));

	if (rrt_outcome(cell, "pass") != iterations)
		fail_msg("%s fixed %s: %lld of %lld iterations passed", build, args,
			 rrt_outcome(cell, "pass"), iterations);
	json_decref(summary);
}

static void test_fixed_clean_plain(void **state)
{
	(void)state;
	expect_clean("none", "--strategy pct --seed 1 --iterations 2000 " FAST, 2000);
	expect_clean("none", "--strategy random --seed 1 --iterations 1000 " FAST, 1000);
	expect_clean("none", "--strategy input --iterations 10 " FAST, 10);
}

static void test_fixed_clean_asan(void **state)
{
	(void)state;
	expect_clean("asan", "--strategy pct --seed 2 --iterations 1000 " FAST, 1000);
}

static void test_fixed_clean_tsan(void **state)
{
	(void)state;
	/* Controlled: TSan must see through the scheduler's hand-offs. */
	expect_clean("tsan", "--strategy pct --seed 3 --iterations 1000 " FAST, 1000);
	/* Free-running: real parallelism between owner and acceptor. */
	expect_clean("tsan", "--strategy none --iterations 300 " FAST, 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_buggy_ends_in_bug_naming_the_qpair),
		cmocka_unit_test(test_asan_buggy_is_a_write_of_size_8_in_the_handler),
		cmocka_unit_test(test_stored_reproducers_replay),
		cmocka_unit_test(test_fixed_survives_the_failing_schedule),
		cmocka_unit_test(test_no_indirection_reads_the_freed_qpair),
		cmocka_unit_test(test_no_indirection_flag_race_under_tsan),
		cmocka_unit_test(test_fixed_clean_plain),
		cmocka_unit_test(test_fixed_clean_asan),
		cmocka_unit_test(test_fixed_clean_tsan),
	};
	RRT_MAIN(tests);
}
