/*
 * test_nightly.c: what can be checked offline of the nightly job and the
 * fuzzing CI: the workflow and ClusterFuzzLite YAML parse (with PyYAML, a
 * maintained parser) and say what they must; the shards of
 * scripts/nightly-soak.sh cover every cell of the matrix exactly once; a tiny
 * one-cell nightly writes a valid merged junit.xml and summary.html; bad
 * arguments are one-line errors; .clusterfuzzlite/build.sh builds a fuzz
 * target per scenario the way OSS-Fuzz calls it.
 *
 * The scripts find the binaries through $RR_BUILDROOT (default build), as
 * rrt_bin does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

/* Runs a Python snippet on a YAML file; returns its exit status. */
static int yaml_check(const char *file, const char *python)
{
	struct rrt_result r;
	int rc = rrt_run(&r,
			 "python3 -c 'import sys, yaml\n"
			 "d = yaml.safe_load(open(sys.argv[1]))\n"
			 "%s' '%s'",
			 python, file);
	if (rc != 0)
		print_error("%s: %s%s\n", file, r.out, r.err);
	rrt_free(&r);
	return rc;
}

static void test_yaml(void **state)
{
	(void)state;
	struct rrt_result r;
	if (rrt_run(&r, "python3 -c 'import yaml'") != 0)
		fail_msg("PyYAML is missing; install it with: apt-get install -y python3-yaml "
			 "(or scripts/install-deps.sh test)");
	rrt_free(&r);
	/* YAML 1.1 reads the key `on` as true. */
	assert_int_equal(yaml_check(".github/workflows/nightly-soak.yml",
				    "on = d.get(True, d.get(\"on\"))\n"
				    "assert on[\"schedule\"][0][\"cron\"], \"no schedule\"\n"
				    "job = d[\"jobs\"][\"soak\"]\n"
				    "assert len(job[\"strategy\"][\"matrix\"][\"shard\"]) >= 2\n"
				    "runs = \" \".join(s.get(\"run\", \"\") for s in job[\"steps\"])\n"
				    "uses = \" \".join(s.get(\"uses\", \"\") for s in job[\"steps\"])\n"
				    "assert \"scripts/install-deps.sh\" in runs\n"
				    "assert \"scripts/nightly-soak.sh\" in runs and \"--shard\" in runs\n"
				    "assert \"upload-artifact\" in uses and \"junit\" in uses\n"),
			 0);
	assert_int_equal(yaml_check(".clusterfuzzlite/project.yaml",
				    "assert d[\"language\"] == \"c\"\n"),
			 0);
	char *docker = rrt_read_file(".clusterfuzzlite/Dockerfile");
	assert_non_null(strstr(docker, "FROM gcr.io/oss-fuzz-base/base-builder"));
	free(docker);
}

/* The cells of shard I/N with builds SANS, one "k san scenario variant" per
 * line (caller frees). */
static char *cells(int i, int n, const char *sans)
{
	struct rrt_result r;
	if (rrt_run(&r, "scripts/nightly-soak.sh --list-cells --shard %d/%d --san %s", i, n, sans) !=
	    0)
		fail_msg("--list-cells --shard %d/%d exited %d: %s", i, n, r.status, r.err);
	free(r.err);
	return r.out;
}

static int count_char(const char *s, char c)
{
	int n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

static void test_shards_cover_each_cell_once(void **state)
{
	(void)state;
	const char *sans = "none,asan,tsan";
	char *all = cells(1, 1, sans);
	int total = count_char(all, '\n');
	/* Every scenario of `racerepro list`, both variants, three builds. */
	struct rrt_result r;
	rrt_run(&r, "'%s' list | grep -cE '^[a-z0-9_]+$'", rrt_bin("none"));
	assert_int_equal(total, atoi(r.out) * 2 * 3);
	rrt_free(&r);
	for (int n = 2; n <= 4; n++) {
		int *seen = calloc((size_t)total, sizeof *seen);
		for (int i = 1; i <= n; i++) {
			char *part = cells(i, n, sans);
			for (char *line = strtok(part, "\n"); line; line = strtok(NULL, "\n")) {
				int k = atoi(line);
				assert_true(k >= 0 && k < total);
				assert_int_equal(k % n + 1, i);
				/* The same line as in the whole matrix. */
				char *at = strstr(all, line);
				assert_non_null(at);
				seen[k]++;
			}
			free(part);
		}
		for (int k = 0; k < total; k++)
			assert_int_equal(seen[k], 1);
		free(seen);
	}
	free(all);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	const char *bad[] = {"--shard 3/2",	"--shard 0/2",	"--shard x",	 "--budget 10x",
			     "--budget 0",	"--san msan",	"--san none,none", "--frobnicate",
			     "--budget"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct rrt_result r;
		assert_int_equal(rrt_run(&r, "scripts/nightly-soak.sh %s", bad[i]), 2);
		assert_int_equal(count_char(r.err, '\n'), 1);
		assert_non_null(strstr(r.err, "nightly-soak.sh: "));
		rrt_free(&r);
	}
}

/* One cell in a tiny budget: a merged report whose files parse. The plain
 * build's matrix has one cell per scenario and variant of the registry, so
 * shard 1/N, with N that many cells, holds exactly its first cell (cell 0:
 * the first scenario of scenarios/scenarios.def, buggy). Both come from
 * --list-cells, never from a count written here. */
static void test_tiny_nightly(void **state)
{
	(void)state;
	char *all = cells(1, 1, "none");
	int n = count_char(all, '\n');
	char scenario[64], variant[64];
	assert_true(n >= 1);
	if (sscanf(all, "0 none %63s %63s", scenario, variant) != 2)
		fail_msg("--list-cells: the first cell is not cell 0 of the plain build:\n%s", all);
	free(all);
	char *mine = cells(1, n, "none");
	assert_int_equal(count_char(mine, '\n'), 1);
	free(mine);

	const char *out = rrt_tmpdir();
	struct rrt_result r;
	int rc = rrt_run(&r, "scripts/nightly-soak.sh --budget 6s --san none --shard 1/%d --out '%s'",
			 n, out);
	if (rc != 0)
		fail_msg("nightly-soak.sh exited %d: %s", rc, r.err);
	rrt_free(&r);
	char path[1024], want[256];
	snprintf(path, sizeof path, "%s/junit.xml", out);
	rrt_check_xml(path);
	char *junit = rrt_read_file(path);
	snprintf(want, sizeof want, "classname=\"racerepro.none.%s\" name=\"%s\"", scenario,
		 variant);
	if (!strstr(junit, want) || !strstr(junit, "tests=\"1\" failures=\"0\""))
		fail_msg("junit.xml of shard 1/%d: want one passing case %s:\n%s", n, want, junit);
	free(junit);
	snprintf(path, sizeof path, "%s/summary.html", out);
	rrt_check_xml(path);
	char *html = rrt_read_file(path);
	assert_non_null(strstr(html, "<table id=\"verdicts\">"));
	free(html);
	snprintf(path, sizeof path, "%s/summary.json", out);
	json_t *s = rrt_load_json(path);
	json_t *c = rrt_cell(s, scenario, variant);
	assert_string_equal(json_string_value(json_object_get(c, "verdict")), "reproduced");
	json_decref(s);
	snprintf(path, sizeof path, "%s/events.jsonl", out);
	assert_true(rrt_check_jsonl(path) >= 3);
	snprintf(path, sizeof path, "%s/cells/none-%s-%s/summary.json", out, scenario, variant);
	json_decref(rrt_load_json(path));
}

/* .clusterfuzzlite/build.sh as OSS-Fuzz runs it, with clang's libFuzzer:
 * one target per scenario, each a working libFuzzer binary. */
static void test_clusterfuzzlite_build(void **state)
{
	(void)state;
	if (access("fuzz/libfuzzer.c", R_OK) != 0) {
		print_message("[  SKIP    ] fuzz/libfuzzer.c does not exist yet: no fuzz targets "
			      "to build\n");
		skip();
	}
	struct rrt_result r;
	if (rrt_run(&r, "command -v clang && ls /usr/lib/llvm-*/lib/clang/*/lib/linux/"
			"libclang_rt.fuzzer-x86_64.a") != 0)
		fail_msg("clang with libFuzzer is missing; install it with: apt-get install -y clang "
			 "libclang-rt-14-dev (or scripts/install-deps.sh fuzz)");
	rrt_free(&r);
	const char *out = rrt_tmpdir(), *src = rrt_tmpdir();
	int rc = rrt_run(&r,
			 "CC=clang CFLAGS='-O1 -fsanitize=address -fsanitize=fuzzer-no-link' "
			 "LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT='%s' SRC='%s' "
			 ".clusterfuzzlite/build.sh",
			 out, src);
	if (rc != 0)
		fail_msg("build.sh exited %d: %s", rc, r.err);
	rrt_free(&r);
	rrt_run(&r, "sed -n 's/^RR_SCENARIO(\\([a-z0-9_]*\\))$/\\1/p' scenarios/scenarios.def");
	int n = 0;
	for (char *sc = strtok(r.out, "\n"); sc; sc = strtok(NULL, "\n"), n++) {
		char path[1024];
		snprintf(path, sizeof path, "%s/fuzz_%s", out, sc);
		if (access(path, X_OK) != 0)
			fail_msg("build.sh made no %s", path);
	}
	assert_true(n > 0);
	rrt_free(&r);
	/* A libFuzzer binary answers -help=1 without fuzzing. */
	rc = rrt_run(&r, "'%s/fuzz_broken_pipe' -help=1", out);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(r.err, "Usage:"));
	rrt_free(&r);
}

int main(void)
{
	/* The scripts and the YAML files are found from the repository root. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml),
		cmocka_unit_test(test_shards_cover_each_cell_once),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_tiny_nightly),
		cmocka_unit_test(test_clusterfuzzlite_build),
	};
	RRT_MAIN(tests);
}
