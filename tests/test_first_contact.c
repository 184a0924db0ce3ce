/*
 * test_first_contact.c: what a new user meets first. The README's exit-code
 * table against what the commands really return; the README's dependency
 * table against scripts/install-deps.sh; the installer's output with stub
 * apt-get and id in PATH (nothing is installed); links a user does not have;
 * and a browser test that must leave nothing in $HOME.
 * Run from the repository root (scripts/run-tests.sh does).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

/* ---- the README's exit-code table --------------------------------------- */

#define MAX_ROWS 32
#define NCODES 5
static const char *const code_names[NCODES] = {"0", "1", "2", "3", "128+N"};

struct exit_row {
	char command[96];         /* the first cell, backticks removed */
	char cell[NCODES][400];   /* what each code means; "—" or empty: never */
};

static char *trim(char *s)
{
	while (*s == ' ')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* The rows of the table under "### Exit codes", or fails the test. */
static int exit_table(struct exit_row *rows)
{
	char *readme = rrt_read_file("README.md");
	char *at = strstr(readme, "\n### Exit codes\n");
	if (!at)
		fail_msg("README.md has no '### Exit codes' section");
	char *line = strstr(at, "\n|");
	if (!line)
		fail_msg("README.md: no table under '### Exit codes'");
	line++;
	/* Header: | command | 0 | 1 | 2 | 3 | 128+N | */
	char *eol = strchr(line, '\n');
	char header[256];
	snprintf(header, sizeof header, "%.*s", (int)(eol - line), line);
	if (!strstr(header, "| command | 0 | 1 | 2 | 3 | 128+N |"))
		fail_msg("README.md: the exit-code table's header is '%s'", header);
	line = strchr(eol + 1, '\n') + 1; /* skip |---| */
	int n = 0;
	while (*line == '|' && n < MAX_ROWS) {
		eol = strchr(line, '\n');
		char buf[4096];
		snprintf(buf, sizeof buf, "%.*s", (int)(eol - line), line + 1);
		struct exit_row *r = &rows[n++];
		memset(r, 0, sizeof *r);
		char *save = NULL, *c = strtok_r(buf, "|", &save);
		int col = 0;
		for (; c; c = strtok_r(NULL, "|", &save), col++) {
			char *t = trim(c);
			if (col == 0) {
				size_t k = 0;
				for (const char *p = t; *p && k + 1 < sizeof r->command; p++)
					if (*p != '`')
						r->command[k++] = *p;
			} else if (col <= NCODES) {
				snprintf(r->cell[col - 1], sizeof r->cell[0], "%s", t);
			}
		}
		line = eol + 1;
	}
	free(readme);
	return n;
}

static const struct exit_row *row_for(const struct exit_row *rows, int n, const char *command)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(rows[i].command, command))
			return &rows[i];
	fail_msg("README.md's exit-code table has no row '%s'", command);
	return NULL;
}

static int documented(const char *cell)
{
	return *cell && strcmp(cell, "—") && strcmp(cell, "-");
}

/* Runs ARGS with BIN; it must exit with CODE, and the table's row ROW must
 * give CODE a meaning. */
static void expect_code(const struct exit_row *rows, int n, const char *row, int code,
			const char *bin, const char *args)
{
	struct rrt_result r;
	int got = rrt_run(&r, "%s %s", bin, args);
	rrt_free(&r);
	if (got != code)
		fail_msg("racerepro %s: exited %d, but the test expects %d", args, got, code);
	const struct exit_row *e = row_for(rows, n, row);
	int col = code >= 128 ? 4 : code;
	if (!documented(e->cell[col]))
		fail_msg("racerepro %s exits %s, which README.md's row '%s' does not document", args,
			 code_names[col], row);
}

/* Every code the table documents that is cheap to trigger, triggered. */
static void test_exit_code_table_matches_behaviour(void **state)
{
	(void)state;
	static struct exit_row rows[MAX_ROWS];
	int n = exit_table(rows);
	const char *bin = rrt_bin("none");
	const char *dir = rrt_tmpdir();
	const char *repro = "corpus/broken_pipe/repro/input-broken-pipe.repro";
	char args[1024], fixed[600];

	/* The buggy reproducer's schedule on the fixed variant: passes. */
	snprintf(fixed, sizeof fixed, "%s/fixed.repro", dir);
	struct rrt_result r;
	if (rrt_run(&r, "sed 's/^variant buggy$/variant fixed/' %s >%s", repro, fixed) != 0)
		fail_msg("cannot write %s", fixed);
	rrt_free(&r);

	snprintf(args, sizeof args, "replay --check 3 %s", repro);
	expect_code(rows, n, "replay --check N FILE", 0, bin, args);
	snprintf(args, sizeof args, "replay %s", repro);
	expect_code(rows, n, "replay FILE", 1, bin, args);
	snprintf(args, sizeof args, "replay %s", fixed);
	expect_code(rows, n, "replay FILE", 0, bin, args);
	expect_code(rows, n, "replay FILE", 2, bin, "replay /nonexistent/x.repro");
	snprintf(args, sizeof args, "explain %s", repro);
	expect_code(rows, n, "explain FILE", 1, bin, args);
	snprintf(args, sizeof args, "explain %s", fixed);
	expect_code(rows, n, "explain FILE", 0, bin, args);
	expect_code(rows, n, "explain FILE", 2, bin, "explain");
	snprintf(args, sizeof args, "minimize %s -o %s/min.repro", fixed, dir);
	expect_code(rows, n, "minimize FILE", 1, bin, args);
	expect_code(rows, n, "minimize FILE", 2, bin, "minimize");
	snprintf(args, sizeof args,
		 "run broken_pipe --variant fixed --strategy random --seed 1 --iterations 20 "
		 "--param work_us=0 --quiet --out %s/run0",
		 dir);
	expect_code(rows, n, "run", 0, bin, args);
	snprintf(args, sizeof args,
		 "run broken_pipe --variant buggy --strategy random --seed 1 --iterations 2000 "
		 "--stop-on-failure --param work_us=0 --quiet --out %s/run1",
		 dir);
	expect_code(rows, n, "run", 1, bin, args);
	expect_code(rows, n, "run", 2, bin, "run no_such_scenario");
	snprintf(args, sizeof args, "run test_env_error --iterations 2 --quiet --out %s/run3", dir);
	expect_code(rows, n, "run", 3, rrt_bin("none-test"), args);
	expect_code(rows, n, "soak", 2, bin, "soak no_such_scenario");
	snprintf(args, sizeof args, "report %s/run0", dir);
	expect_code(rows, n, "report DIR", 0, bin, args);
	expect_code(rows, n, "report DIR", 2, bin, "report /nonexistent");
	expect_code(rows, n, "ftok-audit", 0, bin, "ftok-audit README.md");
	expect_code(rows, n, "ftok-audit", 2, bin, "ftok-audit");
	expect_code(rows, n, "list", 0, bin, "list");
	expect_code(rows, n, "list", 2, bin, "list extra");
	expect_code(rows, n, "bench", 2, bin, "bench --frobnicate");
	expect_code(rows, n, "anything else", 0, bin, "help");
	expect_code(rows, n, "anything else", 2, bin, "frobnicate");
}

/* Every command `racerepro --help` lists has a row. */
static void test_exit_code_table_covers_every_command(void **state)
{
	(void)state;
	static struct exit_row rows[MAX_ROWS];
	int n = exit_table(rows);
	struct rrt_result r;
	if (rrt_run(&r, "%s --help | sed -n 's/^  \\([a-z][a-z-]*\\) .*/\\1/p'", rrt_bin("none")) !=
	    0)
		fail_msg("racerepro --help failed");
	int commands = 0;
	for (char *cmd = strtok(r.out, "\n"); cmd; cmd = strtok(NULL, "\n"), commands++) {
		int found = 0;
		for (int i = 0; i < n && !found; i++) {
			size_t k = strlen(cmd);
			/* "replay FILE", "exec, cc": the row starts with the command. */
			found = !strncmp(rows[i].command, cmd, k) &&
				(rows[i].command[k] == '\0' || rows[i].command[k] == ' ' ||
				 rows[i].command[k] == ',');
		}
		if (!found)
			fail_msg("racerepro --help lists '%s', which README.md's exit-code table lacks",
				 cmd);
	}
	assert_true(commands >= 9);
	rrt_free(&r);
}

/* ---- dependencies ------------------------------------------------------- */

/* The README's dependency table, group by group, is what install-deps.sh
 * installs: the same packages, no more, no fewer. */
static void test_readme_dependencies_match_the_installer(void **state)
{
	(void)state;
	static const char *const groups[] = {"build", "tools", "test", "fuzz"};
	char *readme = rrt_read_file("README.md");
	for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
		struct rrt_result r;
		if (rrt_run(&r, "scripts/install-deps.sh --list %s | cut -d' ' -f2 | sort | tr '\\n' ' '",
			    groups[g]) != 0)
			fail_msg("install-deps.sh --list %s failed: %s", groups[g], r.err);
		char want[512];
		snprintf(want, sizeof want, "%s", r.out);
		rrt_free(&r);
		char needle[64];
		snprintf(needle, sizeof needle, "\n| %s | ", groups[g]);
		char *row = strstr(readme, needle);
		if (!row)
			fail_msg("README.md's dependency table has no row for group %s", groups[g]);
		row += strlen(needle);
		char cell[512];
		snprintf(cell, sizeof cell, "%.*s", (int)strcspn(row, "|"), row);
		rrt_run(&r, "printf '%%s\\n' %s | sort | tr '\\n' ' '", cell);
		if (strcmp(r.out, want))
			fail_msg("README.md lists for %s: %s; install-deps.sh installs: %s", groups[g],
				 r.out, want);
		rrt_free(&r);
	}
	free(readme);
}

/* ---- the installer, with stub apt-get and id ---------------------------- */

struct stub_env {
	char bin[600];   /* stubs, then symlinks to the few real tools it needs */
	char calls[600]; /* what the stub apt-get was asked to do */
	char log[600];   /* RR_DEPS_LOG */
};

static void write_exec(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0700), 0);
}

/* A PATH where none of the packages' probes succeeds: only the tools the
 * script itself runs, linked from the real system, and a stub apt-get that
 * records its arguments and floods both outputs as apt and dpkg do. */
static void stub_setup(struct stub_env *e, const char *uid)
{
	const char *dir = rrt_tmpdir();
	snprintf(e->bin, sizeof e->bin, "%s/bin", dir);
	snprintf(e->calls, sizeof e->calls, "%s/calls", dir);
	snprintf(e->log, sizeof e->log, "%s/install-deps.log", dir);
	assert_int_equal(mkdir(e->bin, 0700), 0);
	struct rrt_result r;
	if (rrt_run(&r,
		    "for t in bash cat dirname false mkdir sed tail env; do "
		    "ln -s \"$(command -v $t)\" '%s/'$t || exit 1; done",
		    e->bin) != 0)
		fail_msg("cannot link the tools: %s", r.err);
	rrt_free(&r);
	char path[700], text[1024];
	snprintf(path, sizeof path, "%s/apt-get", e->bin);
	snprintf(text, sizeof text,
		 "#!/bin/bash\n"
		 "echo \"apt-get $*\" >>'%s'\n"
		 "for i in $(seq 1 60); do echo \"Setting up stub-package-$i ...\"; done\n"
		 "echo 'dpkg: stub noise on stderr' >&2\n"
		 "if [ \"$1\" = install ] && [ -n \"${STUB_FAIL:-}\" ]; then\n"
		 "  echo \"E: Unable to locate package $STUB_FAIL\"; exit 100; fi\n"
		 "exit 0\n",
		 e->calls);
	write_exec(path, text);
	snprintf(path, sizeof path, "%s/seq", e->bin);
	rrt_run(&r, "ln -s \"$(command -v seq)\" '%s'", path);
	rrt_free(&r);
	snprintf(path, sizeof path, "%s/id", e->bin);
	snprintf(text, sizeof text, "#!/bin/bash\necho %s\n", uid);
	write_exec(path, text);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int run_installer(struct rrt_result *r, const struct stub_env *e, const char *extra_env)
{
	char cwd[512];
	if (!getcwd(cwd, sizeof cwd))
		fail_msg("getcwd failed");
	/* env -i: only the stub PATH; CC=false fails every header probe. */
	return rrt_run(r, "env -i %s PATH='%s' RR_DEPS_LOG='%s' CC=false '%s/scripts/install-deps.sh' all",
		       extra_env, e->bin, e->log, cwd);
}

/* As root: a one-line warning before the big first install, one line per
 * step (what, why, how long), apt's flood only in the log. */
static void test_installer_prints_one_line_per_step(void **state)
{
	(void)state;
	struct stub_env e;
	stub_setup(&e, "0");
	struct rrt_result r;
	int rc = run_installer(&r, &e, "");
	if (rc != 0)
		fail_msg("install-deps.sh with stub apt-get exited %d:\n%s%s", rc, r.out, r.err);
	assert_string_equal(r.out, "");
	if (strstr(r.err, "stub-package") || strstr(r.err, "dpkg:"))
		fail_msg("apt's output reached the terminal:\n%s", r.err);
	/* The warning, then update and the four groups: six lines. */
	if (count_lines(r.err) != 6 || !strstr(r.err, "about 1 GiB") ||
	    strstr(r.err, "about 1 GiB") > strstr(r.err, "[1/5]"))
		fail_msg("want a 1 GiB warning and then 5 step lines, got:\n%s", r.err);
	for (int i = 1; i <= 5; i++) {
		char step[16];
		snprintf(step, sizeof step, "[%d/5]", i);
		char *at = strstr(r.err, step);
		if (!at || !strstr(at, " s)"))
			fail_msg("no step %s with its duration:\n%s", step, r.err);
	}
	assert_non_null(strstr(r.err, "chromium"));
	rrt_free(&r);
	char *log = rrt_read_file(e.log);
	assert_non_null(strstr(log, "Setting up stub-package-60"));
	assert_non_null(strstr(log, "dpkg: stub noise"));
	free(log);
	/* Exactly the packages of --list, one apt-get install per group. */
	char *calls = rrt_read_file(e.calls);
	assert_int_equal(count_lines(calls), 5);
	assert_non_null(strstr(calls, "apt-get update\n"));
	assert_non_null(strstr(calls, "install -y --no-install-recommends liburing-dev libssl-dev "
				      "libjansson-dev\n"));
	assert_non_null(strstr(calls, "clang afl++ libclang-rt-14-dev\n"));
	free(calls);
	struct stat st;
	assert_int_equal(stat(e.log, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
}

/* A failing step: the exact command and the log's tail, exit 3. */
static void test_installer_failure_shows_command_and_log(void **state)
{
	(void)state;
	struct stub_env e;
	stub_setup(&e, "0");
	struct rrt_result r;
	int rc = run_installer(&r, &e, "STUB_FAIL=libssl-dev");
	assert_int_equal(rc, 3);
	if (!strstr(r.err, "failed (exit 100)") ||
	    !strstr(r.err, "apt-get install -y --no-install-recommends liburing-dev libssl-dev "
			   "libjansson-dev") ||
	    !strstr(r.err, "E: Unable to locate package libssl-dev"))
		fail_msg("want the failed command and the log's tail, got:\n%s", r.err);
	rrt_free(&r);
}

/* Not root: nothing run, and sudo before every command that needs it. */
static void test_installer_hint_puts_sudo_before_every_command(void **state)
{
	(void)state;
	struct stub_env e;
	stub_setup(&e, "1000");
	struct rrt_result r;
	int rc = run_installer(&r, &e, "");
	assert_int_equal(rc, 3);
	assert_int_equal(access(e.calls, F_OK), -1);
	assert_int_equal(count_lines(r.err), 1);
	int commands = 0;
	for (const char *p = r.err; (p = strstr(p, "apt-get ")); p++, commands++)
		if (p - r.err < 5 || strncmp(p - 5, "sudo ", 5))
			fail_msg("an apt-get without sudo in:\n%s", r.err);
	assert_int_equal(commands, 2);
	rrt_free(&r);
}

/* ---- links and wording --------------------------------------------------- */

/* A user has the repository, not the project's shared folder beside it. */
static void test_docs_link_nothing_outside_the_repository(void **state)
{
	(void)state;
	struct rrt_result r;
	rrt_run(&r, "grep -n '\\.\\./shared\\|/work/shared' README.md reports/README.md "
		    "fuzz/README.md corpus/README.md 2>/dev/null");
	if (*r.out)
		fail_msg("the docs point outside the repository:\n%s", r.out);
	rrt_free(&r);
}

/* broken_pipe fails with EPIPE or, more often, EBADF: the README says both. */
static void test_readme_names_both_broken_pipe_messages(void **state)
{
	(void)state;
	char *readme = rrt_read_file("README.md");
	char *row = strstr(readme, "| `broken_pipe` |");
	assert_non_null(row);
	char line[2048];
	snprintf(line, sizeof line, "%.*s", (int)strcspn(row, "\n"), row);
	assert_non_null(strstr(line, "Broken pipe"));
	assert_non_null(strstr(line, "Bad file descriptor"));
	free(readme);
}

/* ---- the browser test leaves nothing in $HOME ----------------------------- */

static void test_chromium_test_leaves_home_alone(void **state)
{
	(void)state;
	const char *home = rrt_tmpdir();
	struct rrt_result r;
	int rc = rrt_run(&r, "env -u RRT_TALLY HOME='%s' RRT_ONLY=test_html_in_chromium "
			     "%s/tests/test_report 2>&1",
			 home, getenv("RR_BUILDROOT") && *getenv("RR_BUILDROOT")
				       ? getenv("RR_BUILDROOT")
				       : "build");
	if (rc != 0 || !strstr(r.out, "[  PASSED  ] 1 test(s)"))
		fail_msg("test_html_in_chromium with HOME=%s exited %d:\n%s", home, rc, r.out);
	rrt_free(&r);
	DIR *d = opendir(home);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fail_msg("the chromium test left %s/%s behind", home, de->d_name);
	closedir(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_code_table_matches_behaviour),
		cmocka_unit_test(test_exit_code_table_covers_every_command),
		cmocka_unit_test(test_readme_dependencies_match_the_installer),
		cmocka_unit_test(test_installer_prints_one_line_per_step),
		cmocka_unit_test(test_installer_failure_shows_command_and_log),
		cmocka_unit_test(test_installer_hint_puts_sudo_before_every_command),
		cmocka_unit_test(test_docs_link_nothing_outside_the_repository),
		cmocka_unit_test(test_readme_names_both_broken_pipe_messages),
		cmocka_unit_test(test_chromium_test_leaves_home_alone),
	};
	RRT_MAIN(tests);
}
