#define _GNU_SOURCE
#include "testlib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *slurp_fd(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		abort();
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

int rrt_run(struct rrt_result *r, const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	char out_path[] = "/tmp/rrt-out-XXXXXX", err_path[] = "/tmp/rrt-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	if (out_fd < 0 || err_fd < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	unlink(out_path);
	unlink(err_path);
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	lseek(out_fd, 0, SEEK_SET);
	lseek(err_fd, 0, SEEK_SET);
	r->out = slurp_fd(out_fd);
	r->err = slurp_fd(err_fd);
	close(out_fd);
	close(err_fd);
	free(cmd);
	return r->status;
}

void rrt_free(struct rrt_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

const char *rrt_bin(const char *build)
{
	static char paths[8][512];
	static int next;
	const char *root = getenv("RR_BUILDROOT");
	char *p = paths[next++ % 8];
	const char *dash = strchr(build, '-');
	if (dash)
		snprintf(p, 512, "%s/%.*s/racerepro%s", root ? root : "build", (int)(dash - build), build,
			 dash);
	else
		snprintf(p, 512, "%s/%s/racerepro", root ? root : "build", build);
	return p;
}

static char **tmpdirs;
static size_t ntmpdirs;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void rrt_remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_tmpdirs(void)
{
	for (size_t i = 0; i < ntmpdirs; i++) {
		if (!getenv("RRT_KEEP"))
			rrt_remove_tree(tmpdirs[i]);
		free(tmpdirs[i]);
	}
	free(tmpdirs);
}

const char *rrt_tmpdir(void)
{
	char tmpl[] = "/tmp/rrt-XXXXXX";
	if (!mkdtemp(tmpl))
		fail_msg("mkdtemp: %s", strerror(errno));
	if (!tmpdirs)
		atexit(remove_tmpdirs);
	tmpdirs = realloc(tmpdirs, (ntmpdirs + 1) * sizeof *tmpdirs);
	tmpdirs[ntmpdirs] = strdup(tmpl);
	return tmpdirs[ntmpdirs++];
}

json_t *rrt_load_json(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		fail_msg("%s:%d: not valid JSON: %s", path, e.line, e.text);
	return j;
}

size_t rrt_check_jsonl(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;
	while ((len = getline(&line, &cap, f)) > 0) {
		json_error_t e;
		json_t *j = json_loadb(line, (size_t)len, 0, &e);
		if (!j)
			fail_msg("%s line %zu: not valid JSON: %s", path, n + 1, e.text);
		json_decref(j);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

void rrt_check_xml(const char *path)
{
	struct rrt_result r;
	rrt_run(&r, "xmllint --noout '%s'", path);
	if (r.status != 0)
		fail_msg("%s: not well-formed XML: %s", path, r.err);
	rrt_free(&r);
}

json_t *rrt_cell(json_t *summary, const char *scenario, const char *variant)
{
	size_t i;
	json_t *cell;
	json_array_foreach(json_object_get(summary, "cells"), i, cell)
	{
		if (!strcmp(json_string_value(json_object_get(cell, "scenario")), scenario) &&
		    !strcmp(json_string_value(json_object_get(cell, "variant")), variant))
			return cell;
	}
	fail_msg("summary has no cell %s/%s", scenario, variant);
	return NULL;
}

long long rrt_outcome(json_t *cell, const char *klass)
{
	json_t *v = json_object_get(json_object_get(cell, "outcomes"), klass);
	if (!json_is_integer(v))
		fail_msg("cell has no outcome count '%s'", klass);
	return json_integer_value(v);
}

char *rrt_read_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	char *s = slurp_fd(fd);
	close(fd);
	return s;
}

/* Nonzero when $RRT_ONLY (comma-separated test names) is unset or names T. */
static int selected(const char *t)
{
	const char *only = getenv("RRT_ONLY");
	size_t len = strlen(t);
	if (!only || !*only)
		return 1;
	for (const char *p = only; *p;) {
		size_t k = strcspn(p, ",");
		if (k == len && !strncmp(p, t, len))
			return 1;
		p += k + (p[k] == ',');
	}
	return 0;
}

int rrt_run_group(const char *name, const struct CMUnitTest *tests, size_t n)
{
	/* RRT_ONLY picks tests by name: test_registry_counts reruns the
	 * count-dependent tests of other programs in a modified tree. */
	struct CMUnitTest *pick = calloc(n ? n : 1, sizeof *pick);
	size_t m = 0;
	if (!pick) {
		fprintf(stderr, "%s: out of memory\n", name);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (selected(tests[i].name))
			pick[m++] = tests[i];
	n = m;
	int failed = _cmocka_run_group_tests(name, pick, n, NULL, NULL);
	free(pick);
	/* scripts/run-tests.sh adds these up into the closing line. */
	const char *tally = getenv("RRT_TALLY");
	if (tally) {
		FILE *f = fopen(tally, "a");
		if (f) {
			fprintf(f, "%zu %d %s\n", n, failed, name);
			fclose(f);
		}
	}
	return failed ? 1 : 0;
}
