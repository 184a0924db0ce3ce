/*
 * context.c: the run context a scenario sees: its variant and parameters, the
 * three error channels (rr_bug for a finding, rr_env_error for an environment
 * failure, rr__fatal for a harness failure), environment notes, and the
 * resources the driver cleans up after a worker however it ends.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "rr_internal.h"

struct rr__context rr__ctx;

const struct rr_variant rr_variants_buggy_fixed[] = {
	{"buggy", 1, "the race as it shipped", RR_EXPECT_FINDING},
	{"fixed", 0, "with the upstream fix", RR_EXPECT_FINDING},
	{NULL, 0, NULL, RR_EXPECT_FINDING},
};

const char *const rr__outcome_names[RR_NOUTCOMES] = {"pass", "bug",  "sanitizer",
						     "crash", "hang", "error"};

int rr_variant_is(const char *name)
{
	const struct rr__run_config *c = rr__ctx.cfg;
	return c && c->variant && !strcmp(c->variant->name, name);
}

const char *rr_param_str(const char *name)
{
	const struct rr__run_config *c = rr__ctx.cfg;
	if (!c)
		rr__fatal("rr_param_str(%s) outside a run", name);
	const char *v = rr__params_get(&c->params, name);
	if (v)
		return v;
	const struct rr_param *p = rr__param_decl(c->scenario, name);
	if (p)
		return p->def;
	rr__fatal("scenario %s asked for parameter '%s', which it does not declare",
		  c->scenario->name, name);
}

static int parse_int(const char *s, long long *v)
{
	char *end;
	errno = 0;
	*v = strtoll(s, &end, 0);
	return errno || end == s || *end ? -1 : 0;
}

long long rr_param_int(const char *name)
{
	const char *s = rr_param_str(name);
	long long v;
	if (parse_int(s, &v))
		rr__fatal("parameter %s=%s is not an integer", name, s);
	return v;
}

int rr__param_value_check(const struct rr_param *p, const char *value, char *why, size_t cap)
{
	long long v;
	if (p->def && !parse_int(p->def, &v) && parse_int(value, &v)) {
		snprintf(why, cap, "parameter %s=%s is not an integer (the default is %s)", p->name,
			 value, p->def);
		return -1;
	}
	return 0;
}

static void record(int outcome, const char *fmt, va_list ap)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	if (!w)
		return;
	vsnprintf(w->message, sizeof w->message, fmt, ap);
	snprintf(w->finding_role, sizeof w->finding_role, "%s",
		 rr__ctx.finding_role ? rr__ctx.finding_role : rr_role());
	__atomic_store_n(&w->finding, outcome, __ATOMIC_SEQ_CST);
}

void rr_bug(const char *fmt, ...)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	/* The first finding of an iteration wins; a second thread that trips
	 * over the same damage while the process exits must not overwrite it. */
	int expected = RR_PASS;
	if (w && !__atomic_compare_exchange_n(&w->finding, &expected, -1, 0, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST)) {
		for (;;)
			pause();
	}
	va_list ap;
	va_start(ap, fmt);
	record(RR_BUG, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	rr__trace_note("bug", "BUG: %s", w ? w->message : "");
	va_end(ap);
	if (rr__ctx.in_process || !w) {
		va_start(ap, fmt);
		fprintf(stderr, "racerepro: bug in %s: ",
			rr__ctx.finding_role ? rr__ctx.finding_role : rr_role());
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
		abort();
	}
	rr__exit_now(RR_WEXIT_BUG);
}

int rr_env_error(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(RR_ERROR, fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	fprintf(stderr, "racerepro: environment error in %s: ", rr_role());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return err > 0 ? -err : (err ? err : -EIO);
}

int rr_skip(const char *fmt, ...)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	if (w) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->message, sizeof w->message, fmt, ap);
		va_end(ap);
	}
	return RR_SKIP;
}

void rr_env_note(const char *key, const char *fmt, ...)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	if (!w)
		return;
	char value[RR_NOTE];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof value, fmt, ap);
	va_end(ap);
	rr__note_set(w->notes, &w->nnotes, key, value);
}

int rr__note_set(char (*notes)[2][RR_NOTE], int32_t *n, const char *key, const char *value)
{
	int i;
	for (i = 0; i < *n; i++)
		if (!strcmp(notes[i][0], key))
			break;
	if (i == RR_MAX_NOTES)
		return -1;
	snprintf(notes[i][0], RR_NOTE, "%s", key);
	snprintf(notes[i][1], RR_NOTE, "%s", value);
	if (i < *n)
		return 0;
	(*n)++;
	return 1;
}

static char in_process_scratch[256];


/* With no driver to clean up after it (--no-fork, a fuzz target), the
 * process removes its own scratch directory when it exits normally. */
static void remove_in_process_scratch(void)
{
	if (in_process_scratch[0])
		rr__remove_tree(in_process_scratch);
}

const char *rr_scratch_dir(void)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	static char local[256];
	char *dir = w ? w->scratch : local;
	if (dir[0])
		return dir;
	/* $RR_SCRATCH_BASE when a caller will remove it (the benchmark's fuzz
	 * trials: a fuzz target that aborts on its finding never runs atexit);
	 * else tmpfs when there is one: fast, and inode numbers are sequential.
	 * The folder's lock stays held for the life of this process and its
	 * children, so that only a dead owner's folder is ever swept. */
	char tmpl[256];
	int lock = rr__private_dir(rr__scratch_base(), tmpl, sizeof tmpl);
	if (lock < 0)
		rr__fatal("mkdtemp(%s): %s", tmpl, strerror(-lock));
	snprintf(dir, 256, "%s", tmpl);
	if (!w || rr__ctx.in_process) {
		snprintf(in_process_scratch, sizeof in_process_scratch, "%s", tmpl);
		atexit(remove_in_process_scratch);
	}
	return dir;
}

/* Writers in separate processes track their segments at the same moment:
 * slots are claimed with compare-and-swap, never by a plain store. */
void rr_track_shm(int shmid)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	if (!w)
		return;
	for (;;) {
		int n = __atomic_load_n(&w->ntracked, __ATOMIC_SEQ_CST);
		for (int i = 0; i < n; i++) {
			int freed = -1;
			if (__atomic_compare_exchange_n(&w->tracked_shm[i], &freed, shmid, 0,
							__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				rr__record_shm(w->scratch, i, shmid);
				return;
			}
		}
		if (n == RR_MAX_TRACKED)
			rr__fatal("more than %d tracked System V segments", RR_MAX_TRACKED);
		/* Claim slot n by moving ntracked past it; a concurrent claimant
		 * then fails its compare-and-swap and retries. Until the store, the
		 * slot holds -1 (the driver fills them so), never a stale id. */
		if (__atomic_compare_exchange_n(&w->ntracked, &n, n + 1, 0, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST)) {
			__atomic_store_n(&w->tracked_shm[n], shmid, __ATOMIC_SEQ_CST);
			rr__record_shm(w->scratch, n, shmid);
			return;
		}
	}
}

void rr_untrack_shm(int shmid)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	if (!w)
		return;
	int n = __atomic_load_n(&w->ntracked, __ATOMIC_SEQ_CST);
	for (int i = 0; i < n; i++) {
		int mine = shmid;
		if (__atomic_compare_exchange_n(&w->tracked_shm[i], &mine, -1, 0, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			rr__record_shm(w->scratch, i, -1);
	}
}

void rr__exit_now(int code)
{
	fflush(stderr);
	for (;;)
		syscall(SYS_exit_group, code);
}

void rr__fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct rr__worker_shm *w = rr__ctx.shm;
	if (w) {
		va_list cp;
		va_copy(cp, ap);
		record(RR_ERROR, fmt, cp);
		va_end(cp);
	}
	fprintf(stderr, "racerepro: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (w && !rr__ctx.in_process)
		rr__exit_now(RR_WEXIT_ERROR);
	/* Under a fuzzer (in_process 2, fuzz/libfuzzer.c) exit() would run
	 * libFuzzer's atexit hook, which saves the input as a crash. */
	if (rr__ctx.in_process == 2)
		_exit(RR_EXIT_ENV);
	exit(RR_EXIT_ENV);
}

/* A child process of the scenario ended in a finding: end this worker with
 * the same one, so that the driver classifies it as it would the child. */
void rr__propagate_child(int status)
{
	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);
		if (rr__ctx.in_process && code == RR_WEXIT_BUG)
			abort();
		rr__exit_now(code);
	}
	int sig = WTERMSIG(status);
	signal(sig, SIG_DFL);
	raise(sig);
	rr__exit_now(128 + sig);
}
