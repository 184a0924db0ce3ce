/*
 * testlib.h: small helpers for racerepro's cmocka tests: run the CLI as a
 * person would, capture what it printed, parse its reports with real parsers.
 */
#ifndef RR_TESTLIB_H
#define RR_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

struct rrt_result {
	int status; /* exit code 0..255, or 128+signal */
	char *out;  /* everything written to stdout, NUL-terminated */
	char *err;  /* everything written to stderr, NUL-terminated */
};

/* Runs a shell command line (printf-style) and captures its result.
 * Returns r->status. */
int rrt_run(struct rrt_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rrt_free(struct rrt_result *r);

/* Path of a racerepro binary: BUILD is "none", "asan", "tsan" or "ubsan";
 * a name ending in "-test" ("none-test") gives the binary with the test-only
 * scenarios. Honours $RR_BUILDROOT (default "build"). */
const char *rrt_bin(const char *build);

/* A fresh private (0700) directory, removed with its contents at exit. */
const char *rrt_tmpdir(void);
/* rm -rf PATH (no symlinks followed). */
void rrt_remove_tree(const char *path);

/* Parses a JSON file with jansson; fails the test if it does not parse. */
json_t *rrt_load_json(const char *path);
/* Parses every line of a JSON Lines file; fails the test on a bad line.
 * Returns the number of lines. */
size_t rrt_check_jsonl(const char *path);
/* Validates an XML file with xmllint; fails the test if it is not well formed. */
void rrt_check_xml(const char *path);

/* The cell (scenario, variant) of a summary.json, or fails the test. */
json_t *rrt_cell(json_t *summary, const char *scenario, const char *variant);
/* cell.outcomes[CLASS] as an integer. */
long long rrt_outcome(json_t *cell, const char *klass);

/* Reads a whole file (NUL-terminated, caller frees), or fails the test. */
char *rrt_read_file(const char *path);

/* Runs the cmocka group and adds its counts to the closing line that
 * scripts/run-tests.sh prints. With $RRT_ONLY set (test names separated by
 * commas), runs only those. Use as the body of main(). */
#define RRT_MAIN(tests) return rrt_run_group(#tests, tests, sizeof(tests) / sizeof((tests)[0]))
int rrt_run_group(const char *name, const struct CMUnitTest *tests, size_t n);

#endif
