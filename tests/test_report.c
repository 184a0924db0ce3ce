/*
 * test_report.c: `racerepro report` (rebuilding the summary of a run from its
 * events.jsonl, also after SIGKILL, and merging folders) and summary.html,
 * end to end through the CLI. Every file is checked with an independent
 * parser: jansson for JSON, xmllint for XML and for the page's
 * well-formedness, headless Chromium for the page as a browser sees it.
 *
 * Runs are short and their outcome does not depend on timing: broken_pipe's
 * buggy variant under `random` with a fixed seed fails within a few
 * iterations; where a verdict must be exact (a fixed variant that failed, a
 * missed bug) the events are written by the test itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

static const char *bin;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fputs(text, f);
	if (fclose(f))
		fail_msg("%s: %s", path, strerror(errno));
}

static size_t count_lines(const char *path)
{
	char *s = rrt_read_file(path);
	size_t n = 0;
	for (char *p = s; *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

static int contains(const char *path, const char *needle)
{
	char *s = rrt_read_file(path);
	int yes = strstr(s, needle) != NULL;
	free(s);
	return yes;
}

/* One finished soak of broken_pipe in DIR (both variants, 150 iterations
 * each, random, seed 7): the buggy variant reproduces within them. */
static void soak(const char *dir)
{
	struct rrt_result r;
	rrt_run(&r, "'%s' soak broken_pipe --strategy random --seed 7 --iterations 150 --out '%s' --quiet",
		bin, dir);
	if (r.status != 0)
		fail_msg("soak exited %d: %s", r.status, r.err);
	rrt_free(&r);
}

static void test_usage_errors(void **state)
{
	(void)state;
	struct rrt_result r;
	assert_int_equal(rrt_run(&r, "'%s' report --help", bin), 0);
	assert_non_null(strstr(r.out, "usage: racerepro report DIR"));
	rrt_free(&r);
	const char *bad[] = {"report", "report /nonexistent/rrt-folder", "report --bogus",
			     "report a b", "report --merge"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(rrt_run(&r, "'%s' %s", bin, bad[i]), 2);
		/* One line, naming the command. */
		assert_non_null(strstr(r.err, "racerepro report: "));
		assert_non_null(strchr(r.err, '\n'));
		assert_null(strchr(strchr(r.err, '\n') + 1, '\n'));
		rrt_free(&r);
	}
	const char *empty = rrt_tmpdir();
	assert_int_equal(rrt_run(&r, "'%s' report '%s'", bin, empty), 2);
	assert_non_null(strstr(r.err, "events.jsonl"));
	rrt_free(&r);
}

/* A finished run rebuilt gives the same verdicts and counts, adds no end line
 * to the log, and writes every summary file. */
static void test_rebuild_finished_run(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	soak(dir);
	char path[1024], events[1024];
	snprintf(path, sizeof path, "%s/summary.json", dir);
	json_t *orig = rrt_load_json(path);
	snprintf(events, sizeof events, "%s/events.jsonl", dir);
	size_t lines = count_lines(events);
	const char *files[] = {"summary.json", "summary.md", "junit.xml", "summary.html"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		assert_int_equal(unlink(path), 0);
	}
	struct rrt_result r;
	assert_int_equal(rrt_run(&r, "'%s' report '%s'", bin, dir), 0);
	rrt_free(&r);
	assert_int_equal(count_lines(events), lines);
	snprintf(path, sizeof path, "%s/summary.json", dir);
	json_t *re = rrt_load_json(path);
	assert_true(json_is_false(json_object_get(re, "interrupted")));
	assert_true(json_is_true(json_object_get(re, "verdict_holds")));
	const char *variants[] = {"buggy", "fixed"};
	for (int v = 0; v < 2; v++) {
		json_t *a = rrt_cell(orig, "broken_pipe", variants[v]);
		json_t *b = rrt_cell(re, "broken_pipe", variants[v]);
		assert_string_equal(json_string_value(json_object_get(a, "verdict")),
				    json_string_value(json_object_get(b, "verdict")));
		assert_int_equal(json_integer_value(json_object_get(a, "iterations")),
				 json_integer_value(json_object_get(b, "iterations")));
		const char *classes[] = {"pass", "bug", "sanitizer", "crash", "hang", "error"};
		for (int k = 0; k < 6; k++)
			assert_int_equal(rrt_outcome(a, classes[k]), rrt_outcome(b, classes[k]));
		json_t *sa = json_object_get(a, "signatures"), *sb = json_object_get(b, "signatures");
		assert_int_equal(json_array_size(sa), json_array_size(sb));
		size_t i;
		json_t *s;
		json_array_foreach(sa, i, s)
		{
			/* Same signature, same evidence folder. */
			int found = 0;
			size_t j;
			json_t *t;
			json_array_foreach(sb, j, t)
			{
				if (!strcmp(json_string_value(json_object_get(s, "signature")),
					    json_string_value(json_object_get(t, "signature")))) {
					found = 1;
					assert_string_equal(json_string_value(json_object_get(s, "dir")),
							    json_string_value(json_object_get(t, "dir")));
				}
			}
			assert_true(found);
		}
		json_t *fa = json_object_get(a, "first_failure"), *fb = json_object_get(b, "first_failure");
		assert_int_equal(json_is_object(fa), json_is_object(fb));
	}
	json_decref(orig);
	json_decref(re);
	snprintf(path, sizeof path, "%s/junit.xml", dir);
	rrt_check_xml(path);
	snprintf(path, sizeof path, "%s/summary.html", dir);
	rrt_check_xml(path);
	assert_true(contains(path, "id=\"verdicts\""));
}

/* The state a SIGKILL leaves: no end line, the last line cut mid-write. */
static void test_rebuild_truncated_log(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	soak(dir);
	char events[1024], cmd[2200];
	snprintf(events, sizeof events, "%s/events.jsonl", dir);
	/* Drop the end line and the fixed cell's cell_end line, then append
	 * half of that cell_end line again, without its newline. */
	snprintf(cmd, sizeof cmd,
		 "cd '%s' && grep -v '\"event\":\"end\"' events.jsonl > e1 && "
		 "last=$(grep '\"event\":\"cell_end\"' e1 | tail -1) && grep -vF \"$last\" e1 > e2 && "
		 "printf '%%s' \"$(printf '%%s' \"$last\" | cut -c1-60)\" >> e2 && mv e2 events.jsonl && rm e1 "
		 "summary.json",
		 dir);
	struct rrt_result r;
	assert_int_equal(rrt_run(&r, "%s", cmd), 0);
	rrt_free(&r);
	size_t lines = count_lines(events);
	/* The verdict cannot hold for an interrupted run: exit 1, not 2. */
	assert_int_equal(rrt_run(&r, "'%s' report '%s'", bin, dir), 1);
	assert_non_null(strstr(r.err, "cut short"));
	rrt_free(&r);
	assert_int_equal(count_lines(events), lines);
	char path[1024];
	snprintf(path, sizeof path, "%s/summary.json", dir);
	json_t *s = rrt_load_json(path);
	assert_true(json_is_true(json_object_get(s, "interrupted")));
	assert_true(json_is_false(json_object_get(s, "verdict_holds")));
	json_t *buggy = rrt_cell(s, "broken_pipe", "buggy");
	assert_string_equal(json_string_value(json_object_get(buggy, "verdict")), "reproduced");
	assert_int_equal(json_integer_value(json_object_get(buggy, "iterations")), 150);
	/* The fixed cell is known from its first progress line, if report.c
	 * wrote one (it rate-limits them); either way the files are whole. */
	json_decref(s);
	snprintf(path, sizeof path, "%s/junit.xml", dir);
	rrt_check_xml(path);
	snprintf(path, sizeof path, "%s/summary.md", dir);
	assert_true(contains(path, "interrupted"));
}

/* A real SIGKILL in the middle of a soak. */
static void test_rebuild_after_sigkill(void **state)
{
	(void)state;
	const char *dir = rrt_tmpdir();
	char events[1024];
	snprintf(events, sizeof events, "%s/events.jsonl", dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_WRONLY);
		dup2(nul, 1);
		dup2(nul, 2);
		execl(bin, bin, "soak", "broken_pipe", "--variant", "buggy", "--strategy", "random",
		      "--seed", "3", "--duration", "5m", "--out", dir, "--quiet", (char *)NULL);
		_exit(127);
	}
	/* Wait (for the event, not for a time) until a failure is logged. */
	int seen = 0;
	for (int i = 0; i < 3000 && !seen; i++) {
		if (access(events, R_OK) == 0 && contains(events, "\"event\":\"failure\""))
			seen = 1;
		else {
			struct timespec ts = {0, 10000000};
			nanosleep(&ts, NULL);
		}
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(seen);
	struct rrt_result r;
	assert_int_equal(rrt_run(&r, "'%s' report '%s'", bin, dir), 1);
	rrt_free(&r);
	char path[1024];
	snprintf(path, sizeof path, "%s/summary.json", dir);
	json_t *s = rrt_load_json(path);
	assert_true(json_is_true(json_object_get(s, "interrupted")));
	json_t *c = rrt_cell(s, "broken_pipe", "buggy");
	/* A failure was logged, so the cell reproduced, killed or not. */
	assert_string_equal(json_string_value(json_object_get(c, "verdict")), "reproduced");
	assert_true(rrt_outcome(c, "bug") >= 1);
	assert_true(json_array_size(json_object_get(c, "signatures")) >= 1);
	json_decref(s);
	snprintf(path, sizeof path, "%s/junit.xml", dir);
	rrt_check_xml(path);
	snprintf(path, sizeof path, "%s/summary.html", dir);
	rrt_check_xml(path);
}

/* Events written by hand, so that the verdicts are exact: a fixed variant
 * that failed and a buggy one that missed, merged from two folders. */
static void test_merge_and_regressions(void **state)
{
	(void)state;
	const char *out = rrt_tmpdir();
	char a[1024], b[1024], path[1200];
	snprintf(a, sizeof a, "%s/cells/a", out);
	snprintf(b, sizeof b, "%s/cells/b", out);
	struct rrt_result r;
	assert_int_equal(rrt_run(&r, "mkdir -p '%s/failures/fixed-x' '%s'", a, b), 0);
	rrt_free(&r);
	snprintf(path, sizeof path, "%s/events.jsonl", a);
	write_file(path,
		   "{\"event\":\"start\",\"run_id\":\"a\",\"time\":\"2026-01-01T00:00:00Z\",\"build\":\"asan\",\"command\":\"racerepro soak\"}\n"
		   "{\"event\":\"failure\",\"scenario\":\"broken_pipe\",\"variant\":\"fixed\",\"class\":\"bug\",\"signature\":\"bug:x <&> \\\"y\\\"\",\"message\":\"x <&> y (in loop)\",\"role\":\"loop\",\"new\":true,\"count\":1,\"iteration\":4,\"first_iteration\":5,\"first_seconds\":1.4,\"strategy\":\"pct\",\"seed\":\"0x1\",\"repro\":\"failures/fixed-x/failure.repro\",\"replay\":\"/bin/racerepro replay /r/failures/fixed-x/failure.repro\",\"t\":1.5}\n"
		   "{\"event\":\"cell_end\",\"scenario\":\"broken_pipe\",\"variant\":\"fixed\",\"strategy\":\"portfolio\",\"seed\":\"0x1\",\"iterations\":10,\"failures\":1,\"errors\":0,\"elapsed_s\":2.0,\"rate\":5.0,\"outcomes\":{\"pass\":9,\"bug\":1,\"sanitizer\":0,\"crash\":0,\"hang\":0,\"error\":0},\"by_strategy\":{},\"env\":{},\"first_failure\":{\"iteration\":5,\"seconds\":1.4},\"t\":2.0}\n"
		   "{\"event\":\"end\",\"verdict_holds\":false,\"interrupted\":false,\"t\":2.1}\n");
	snprintf(path, sizeof path, "%s/failures/fixed-x/trace.txt", a);
	write_file(path, "step 1 loop <close> & more\n");
	snprintf(path, sizeof path, "%s/events.jsonl", b);
	write_file(path,
		   "{\"event\":\"start\",\"run_id\":\"b\",\"time\":\"2026-01-01T00:00:03Z\",\"build\":\"none\",\"command\":\"racerepro soak\"}\n"
		   "{\"event\":\"progress\",\"scenario\":\"broken_pipe\",\"variant\":\"buggy\",\"strategy\":\"portfolio\",\"seed\":\"0x1\",\"iterations\":0,\"failures\":0,\"errors\":0,\"elapsed_s\":0,\"rate\":0,\"outcomes\":{\"pass\":0,\"bug\":0,\"sanitizer\":0,\"crash\":0,\"hang\":0,\"error\":0},\"by_strategy\":{},\"env\":{},\"t\":0.0}\n"
		   "{\"event\":\"cell_end\",\"scenario\":\"broken_pipe\",\"variant\":\"buggy\",\"strategy\":\"portfolio\",\"seed\":\"0x1\",\"iterations\":40,\"failures\":0,\"errors\":0,\"elapsed_s\":2.0,\"rate\":20.0,\"outcomes\":{\"pass\":40,\"bug\":0,\"sanitizer\":0,\"crash\":0,\"hang\":0,\"error\":0},\"by_strategy\":{},\"env\":{\"backend\":\"emulated\"},\"t\":2.0}\n"
		   "{\"event\":\"end\",\"verdict_holds\":false,\"interrupted\":false,\"t\":2.1}\n");
	/* A folder outside OUT is refused. */
	const char *elsewhere = rrt_tmpdir();
	assert_int_equal(rrt_run(&r, "'%s' report --merge '%s' '%s'", bin, out, elsewhere), 2);
	rrt_free(&r);
	assert_int_equal(rrt_run(&r, "'%s' report --merge '%s' '%s' '%s'", bin, out, a, b), 1);
	rrt_free(&r);
	snprintf(path, sizeof path, "%s/summary.json", out);
	json_t *s = rrt_load_json(path);
	assert_true(json_is_false(json_object_get(s, "interrupted")));
	json_t *fixed = rrt_cell(s, "broken_pipe", "fixed");
	json_t *buggy = rrt_cell(s, "broken_pipe", "buggy");
	assert_string_equal(json_string_value(json_object_get(fixed, "verdict")), "failed");
	assert_string_equal(json_string_value(json_object_get(buggy, "verdict")), "missed");
	assert_string_equal(json_string_value(json_object_get(json_object_get(fixed, "env"), "build")),
			    "asan");
	json_t *sig = json_array_get(json_object_get(fixed, "signatures"), 0);
	assert_string_equal(json_string_value(json_object_get(sig, "dir")),
			    "cells/a/failures/fixed-x");
	assert_string_equal(json_string_value(json_object_get(sig, "role")), "loop");
	json_decref(s);
	snprintf(path, sizeof path, "%s/events.jsonl", out);
	assert_int_equal(rrt_check_jsonl(path), 6); /* start, 4 lines, end */
	snprintf(path, sizeof path, "%s/junit.xml", out);
	rrt_check_xml(path);
	assert_true(contains(path, "classname=\"racerepro.asan.broken_pipe\""));
	assert_true(contains(path, "type=\"missed\""));
	assert_true(contains(path, "<failure message=\"bug:x &lt;&amp;&gt; &quot;y&quot;\""));
	snprintf(path, sizeof path, "%s/summary.html", out);
	rrt_check_xml(path);
	/* The trace is in the page, escaped. */
	assert_true(contains(path, "step 1 loop &lt;close&gt; &amp; more"));
	assert_true(contains(path, "data-verdict=\"failed\""));
}

/* summary.html as a browser renders it: headless Chromium's DOM has the
 * verdict table with one row per cell. */
static void test_html_in_chromium(void **state)
{
	(void)state;
	struct rrt_result r;
	if (rrt_run(&r, "command -v chromium") != 0)
		fail_msg("chromium is missing; install it with: apt-get install -y chromium "
			 "(or scripts/install-deps.sh test)");
	rrt_free(&r);
	const char *dir = rrt_tmpdir();
	soak(dir);
	/* Chromium writes its crash-report settings and dconf cache under
	 * $HOME (~/.config/chromium, ~/.cache) whatever --user-data-dir says:
	 * give it a home of its own, removed with the other temporary folders. */
	const char *profile = rrt_tmpdir();
	rrt_run(&r,
		"HOME='%s' XDG_CONFIG_HOME='%s/.config' XDG_CACHE_HOME='%s/.cache' "
		"timeout 120 chromium --headless --no-sandbox --disable-gpu "
		"--disable-background-networking --disable-component-update --disable-sync "
		"--no-first-run --user-data-dir='%s/profile' --dump-dom 'file://%s/summary.html' "
		"2>/dev/null",
		profile, profile, profile, profile, dir);
	if (r.status != 0)
		fail_msg("chromium exited %d", r.status);
	const char *table = strstr(r.out, "<table id=\"verdicts\">");
	assert_non_null(table);
	assert_non_null(strstr(table, "data-verdict=\"reproduced\""));
	assert_non_null(strstr(table, "data-verdict=\"clean\""));
	assert_non_null(strstr(r.out, "<svg id=\"rate\""));
	assert_non_null(strstr(r.out, "racerepro replay"));
	/* Nothing the page needs comes from outside it. */
	assert_null(strstr(r.out, "<script"));
	assert_null(strstr(r.out, "src=\"http"));
	assert_null(strstr(r.out, "href=\"http"));
	rrt_free(&r);
}

int main(void)
{
	bin = rrt_bin("none");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_rebuild_finished_run),
		cmocka_unit_test(test_rebuild_truncated_log),
		cmocka_unit_test(test_rebuild_after_sigkill),
		cmocka_unit_test(test_merge_and_regressions),
		cmocka_unit_test(test_html_in_chromium),
	};
	RRT_MAIN(tests);
}
