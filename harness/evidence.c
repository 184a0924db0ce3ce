/*
 * evidence.c: the failures/ folder of a run. The first time a signature shows
 * in a cell, its folder gets everything needed to understand and replay it:
 *
 *   failure.repro   the reproducer (repro.c's format)
 *   trace.txt       the failing iteration's interleaving
 *   message.txt     the signature and the finding's message
 *   sanitizer.log   the sanitizer's report, when there is one
 *   stderr.log      what the worker printed
 *   backtrace.txt   gdb's backtraces of a crash (from its core) or a hang
 *   core            the core itself, with --keep-cores
 *
 * The supervisor calls this from the driver process, after the worker is
 * dead: everything is read from the worker's shared status and its files.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evidence.h"
#include "fileio.h"
#include "report.h"
#include "repro.h"

/* Calls FN on every entry of PREFIX's folder named PREFIX.<something>. */
static void each_san_log(const char *prefix, void (*fn)(const char *path, void *arg), void *arg)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", prefix);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	const char *base = slash + 1;
	size_t blen = strlen(base);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, base, blen) || de->d_name[blen] != '.')
			continue;
		char path[PATH_MAX * 2];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		fn(path, arg);
	}
	closedir(d);
}

struct text {
	char *all;
	size_t len;
};

static void append_file(const char *path, void *arg)
{
	struct text *t = arg;
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0 && t->len < (1u << 22)) {
		char *p = realloc(t->all, t->len + n + 1);
		if (!p)
			break;
		t->all = p;
		memcpy(t->all + t->len, buf, n);
		t->len += n;
		t->all[t->len] = '\0';
	}
	fclose(f);
}

char *rr__san_logs_read(const char *prefix)
{
	struct text t = {NULL, 0};
	each_san_log(prefix, append_file, &t);
	return t.all;
}

static void unlink_file(const char *path, void *arg)
{
	(void)arg;
	unlink(path);
}

void rr__san_logs_remove(const char *prefix)
{
	each_san_log(prefix, unlink_file, NULL);
}

/* The core file a crashed worker left in its folder, if any. */
static int find_core(const char *dir, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(d)))
		if (!strncmp(de->d_name, "core", 4)) {
			snprintf(out, cap, "%s/%s", dir, de->d_name);
			found = 1;
		}
	closedir(d);
	return found;
}

/* Backtraces of a new crash or hang, next to its reproducer. */
static void save_backtrace(struct rr__run *run, const struct rr__run_config *cfg,
			   const struct rr__evidence_src *src, const struct rr__signature *s)
{
	char *bt = NULL, core[PATH_MAX + 300], path[PATH_MAX + 256];
	int have_core = s->klass == RR_CRASH && find_core(src->core_dir, core, sizeof core);
	if (have_core)
		bt = rr__backtrace_core(core);
	else if (s->klass == RR_HANG && src->hang_backtrace)
		bt = strdup(src->hang_backtrace);
	else
		bt = rr__exec_backtrace_take(src->core_dir);
	if (bt) {
		snprintf(path, sizeof path, "%s/%s/backtrace.txt", run->dir, s->dir);
		int rc = rr__write_text(path, bt);
		if (rc < 0)
			rr__report_write_error(run, path, -rc);
		free(bt);
	}
	if (have_core && cfg->keep_cores) {
		snprintf(path, sizeof path, "%s/%s/core", run->dir, s->dir);
		if (rename(core, path) < 0)
			fprintf(stderr, "racerepro: keeping %s: %s\n", core, strerror(errno));
	}
}

/* Returns 0 or -errno of the write side (a missing source is no error). */
static int copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return 0;
	int err = 0;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out >= 0 && fchmod(out, 0600) < 0) {
		close(out);
		out = -1;
	}
	if (out < 0)
		err = errno;
	if (out >= 0) {
		char buf[16384];
		ssize_t n;
		while ((n = read(in, buf, sizeof buf)) > 0) {
			ssize_t w = write(out, buf, (size_t)n);
			if (w != n) {
				err = w < 0 ? errno : ENOSPC;
				break;
			}
		}
		if (close(out) < 0 && !err)
			err = errno;
	}
	close(in);
	return -err;
}

void rr__evidence_save(struct rr__run *run, const struct rr__run_config *cfg,
		       const struct rr__evidence_src *src, struct rr__signature *s,
		       const char *san_log)
{
	const struct rr__worker_shm *w = src->shm;
	char slug[96];
	rr__slug(s->sig, slug, sizeof slug);
	snprintf(s->dir, sizeof s->dir, "failures/%s-%s", cfg->variant->name, slug);
	char dir[PATH_MAX + 128], path[PATH_MAX + 256];
	snprintf(dir, sizeof dir, "%s/failures", run->dir);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/%s", run->dir, s->dir);
	mkdir(dir, 0700);
	static struct rr__repro r;
	rr__repro_from_run(cfg, &w->sched, w->iter_seed, s->sig, &r);
	snprintf(path, sizeof path, "%s/failure.repro", dir);
	int rc = rr__repro_write(path, &r);
	if (rc < 0)
		rr__report_write_error(run, path, -rc);
	snprintf(path, sizeof path, "%s/trace.txt", dir);
	FILE *f = rr__fopen_private(path);
	if (f) {
		fprintf(f, "%s/%s, strategy %s, seed 0x%016" PRIx64 ", iteration %" PRIu64 "\n",
			cfg->scenario->name, cfg->variant->name, r.strategy, r.seed,
			rr__iteration_number(w->iter_index));
		fprintf(f, "finding: %s\n\n", s->message);
		const struct rr__sched *trace = &w->sched;
		if (!strncmp(cfg->scenario->name, "exec:", 5)) {
			/* exec mode: call sites as file:line, in a copy */
			static struct rr__sched symbolized;
			symbolized = w->sched;
			rr__exec_symbolize(&symbolized, NULL, 0);
			trace = &symbolized;
		}
		rr__trace_print(f, trace, s->message, 0);
		if (fclose(f))
			rr__report_write_error(run, path, errno);
	} else {
		rr__report_write_error(run, path, errno);
	}
	snprintf(path, sizeof path, "%s/message.txt", dir);
	char msg[RR_MSG + 300];
	snprintf(msg, sizeof msg, "%s\n%s\n", s->sig, s->message);
	rc = rr__write_text(path, msg);
	if (rc < 0)
		rr__report_write_error(run, path, -rc);
	if (san_log) {
		snprintf(path, sizeof path, "%s/sanitizer.log", dir);
		rc = rr__write_text(path, san_log);
		if (rc < 0)
			rr__report_write_error(run, path, -rc);
	}
	snprintf(path, sizeof path, "%s/stderr.log", dir);
	rc = copy_file(src->log_path, path);
	if (rc < 0)
		rr__report_write_error(run, path, -rc);
	save_backtrace(run, cfg, src, s);
}
