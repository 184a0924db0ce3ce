/*
 * bench.c: racerepro-bench, the measured performance table (make bench). A
 * program of its own on top of the harness's libraries: nothing of it is
 * linked into racerepro or the fuzz targets (`racerepro bench` runs it).
 *
 * Three measurements, written to reports/bench.{md,json,svg}:
 *  1. Time to first reproduction, per scenario (its expected-to-fail variant)
 *     and strategy: trial k runs with run seed k, in worker processes as a
 *     soak does (rr__run_cell with no report folder), and stops at the first
 *     finding (stop_at_first_failure) or at the cap (iterations and seconds),
 *     which is then reported. Median and 90th percentile of iterations and
 *     seconds over the trials; a trial that hit the cap counts as "more than
 *     the cap", so a percentile that lands on one is printed as "> cap".
 *  2. Iterations per second and the peak RSS of the largest process (a
 *     worker) per scenario and build: build/<san>/racerepro run as a
 *     subprocess (fixed variant, strategy none, so that no failure restarts a
 *     worker), its summary.json read back with jansson, the RSS from
 *     getrusage(RUSAGE_CHILDREN) of a helper process that waited for it (the
 *     helper sees only its own descendants, so each number is one run's).
 *  3. The harness's overhead against the bare episode: the same scenario
 *     compiled with racerepro_bare.h (make BARE=1: race points and traces
 *     compiled out, wrappers straight to the real calls), its iterate() called
 *     in a plain in-process loop (`racerepro-bench --bare-loop`, run in the
 *     bare build's racerepro-bench), against
 *     the harness running the same number of iterations under `none` and
 *     under `random` (controlled).
 * The trials are sequential on purpose: two at once would measure each other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "engine.h"
#include "fileio.h"
#include "report.h"
#include "supervisor.h"

#define MAX_TRIALS 1000
#define MAX_SC 16
#define MAX_BUILDS 4

static const int strat_list[] = {RR_STRAT_NONE, RR_STRAT_NOISE, RR_STRAT_RANDOM, RR_STRAT_PCT,
				 RR_STRAT_PORTFOLIO};
#define NSTRAT ((int)(sizeof strat_list / sizeof strat_list[0]))
/* Rows of the time-to-first table: the harness's strategies, then the
 * libFuzzer target (input strategy) with and without interleaving feedback. */
#define ROW_LF NSTRAT
#define ROW_LF_NOFB (NSTRAT + 1)
#define NROWS (NSTRAT + 2)

static const char *row_name(int j)
{
	if (j == ROW_LF)
		return "libfuzzer";
	if (j == ROW_LF_NOFB)
		return "libfuzzer-nofeedback";
	return rr__strategy_names[strat_list[j]];
}

struct trials {
	int n, hits;
	double it[MAX_TRIALS]; /* iterations to the first finding; INFINITY: capped */
	double s[MAX_TRIALS];
	uint64_t cap_it_seen; /* the most iterations a capped trial ran */
	double cap_s_seen;
	double med_it, p90_it, med_s, p90_s;
};

struct rate {
	int done;
	char why[200]; /* when not done */
	double rate;      /* steady state: (N2 - N1) / (T2 - T1) of two runs */
	double rate_all;  /* the longer run's iterations over its elapsed time */
	double elapsed;   /* the longer run's */
	uint64_t iterations;
	long rss_kb;
};

struct overhead {
	int done;
	char why[200];
	uint64_t iterations;
	double bare_rate, none_rate, ctl_rate;
};

struct bench {
	int quick;
	int ntrials;
	uint64_t cap_it;
	double cap_s;
	double rate_s;
	uint64_t overhead_it; /* 0: from overhead_s and the plain rate */
	double overhead_s;
	const char *out;
	const char *buildroot;
	const char *bare_bin;
	int nsc;
	const struct rr_scenario *sc[MAX_SC];
	const struct rr_variant *buggy[MAX_SC];
	int nbuilds;
	const char *builds[MAX_BUILDS];
	struct trials t[MAX_SC][NROWS];
	const char *fuzz_dir; /* <dir>/<scenario>: libFuzzer targets (fuzz/fuzz.mk) */
	char fuzz_why[200];   /* why the libFuzzer rows are missing, if they are */
	struct rate r[MAX_SC][MAX_BUILDS];
	struct overhead o[MAX_SC];
	char command[2048];
	char cpu[200];
	long ncpu;
	char kernel[200];
	char when[32];
	double total_s;
	double load_start, load_end; /* 1-minute load average, from /proc/loadavg */
};

static double now_s(void)
{
	return (double)rr__mono_ns() / 1e9;
}

/* ---- statistics ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The Q quantile (nearest rank) of N values; INFINITY stands for "capped". */
static double quantile(const double *v, int n, double q)
{
	if (n <= 0 || n > MAX_TRIALS)
		return NAN;
	double c[MAX_TRIALS];
	memcpy(c, v, (size_t)n * sizeof *c);
	qsort(c, (size_t)n, sizeof *c, cmp_double);
	int rank = (int)ceil(q * n);
	if (rank < 1)
		rank = 1;
	return c[rank - 1];
}

static void fmt_it(char *buf, size_t cap, double v, uint64_t capv)
{
	if (isinf(v))
		snprintf(buf, cap, "> %" PRIu64, capv);
	else
		snprintf(buf, cap, "%.0f", v);
}

static void fmt_s(char *buf, size_t cap, double v, double capv)
{
	if (isinf(v))
		snprintf(buf, cap, "> %.3g s", capv);
	else if (v < 1)
		snprintf(buf, cap, "%.1f ms", v * 1e3);
	else
		snprintf(buf, cap, "%.2f s", v);
}

/* The driver prints each environment note once per cell, which makes
 * hundreds of identical lines over the trials: stderr goes to /dev/null while
 * the bench's own cells run, and the bench reports through `out`. */
static FILE *log_out;
static int saved_stderr = -1;

static void quiet_begin(void)
{
	fflush(stderr);
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul >= 0 && saved_stderr >= 0) {
		if (dup2(nul, 2) < 0)
			fprintf(log_out, "bench: cannot silence the driver: %s\n", strerror(errno));
	}
	if (nul >= 0)
		close(nul);
}

static void quiet_end(void)
{
	fflush(stderr);
	if (saved_stderr >= 0 && dup2(saved_stderr, 2) < 0)
		fprintf(log_out, "bench: cannot restore stderr: %s\n", strerror(errno));
}

/* ---- 1. time to first reproduction ----------------------------------------- */

/* The medians and 90th percentiles of a row of trials, and its log line; the
 * same for the harness's strategies and for the libFuzzer rows. */
static void summarize_trials(struct bench *b, struct trials *t, int si, int row)
{
	t->med_it = quantile(t->it, t->n, 0.5);
	t->p90_it = quantile(t->it, t->n, 0.9);
	t->med_s = quantile(t->s, t->n, 0.5);
	t->p90_s = quantile(t->s, t->n, 0.9);
	char a[32], c[32];
	fmt_it(a, sizeof a, t->med_it, b->cap_it);
	fmt_s(c, sizeof c, t->med_s, b->cap_s);
	fprintf(log_out, "bench: %s/%s %-9s %2d/%d reproduced, median %s iterations, %s\n",
		b->sc[si]->name, b->buggy[si]->name, row_name(row), t->hits, t->n, a, c);
}

static void run_trials(struct bench *b, int si, int sj)
{
	struct trials *t = &b->t[si][sj];
	memset(t, 0, sizeof *t);
	static struct rr__cell cell;
	for (int k = 0; k < b->ntrials && !rr__driver_interrupted(); k++) {
		struct rr__run_config cfg;
		memset(&cfg, 0, sizeof cfg);
		cfg.scenario = b->sc[si];
		cfg.variant = b->buggy[si];
		cfg.strategy = strat_list[sj];
		cfg.seed = (uint64_t)k;
		cfg.seed_given = 1;
		cfg.iterations = b->cap_it;
		cfg.duration_ns = (uint64_t)(b->cap_s * 1e9);
		cfg.jobs = 1;
		cfg.quiet = 1;
		cfg.stop_at_first_failure = 1;
		rr__ctx.cfg = &cfg;
		quiet_begin();
		rr__run_cell(&cfg, NULL, &cell);
		quiet_end();
		int hit = cell.counts[RR_BUG] + cell.counts[RR_SANITIZER] + cell.counts[RR_CRASH] > 0;
		if (hit) {
			t->hits++;
			t->it[t->n] = (double)cell.first_failure_iteration;
			t->s[t->n] = cell.first_failure_s;
		} else {
			t->it[t->n] = INFINITY;
			t->s[t->n] = INFINITY;
			if (cell.iterations > t->cap_it_seen)
				t->cap_it_seen = cell.iterations;
			if (cell.elapsed_s > t->cap_s_seen)
				t->cap_s_seen = cell.elapsed_s;
		}
		t->n++;
	}
	summarize_trials(b, t, si, sj);
}

/* ---- subprocesses ---------------------------------------------------------- */

int rr__bench_run_measured(char *const argv[], const char *out_path, const char *err_path,
			   long *rss_kb)
{
	int pfd[2];
	if (pipe(pfd) < 0)
		return -1;
	fflush(NULL);
	pid_t helper = fork();
	if (helper < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (helper == 0) {
		close(pfd[0]);
		signal(SIGCHLD, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		pid_t pid = fork();
		if (pid < 0)
			_exit(127);
		if (pid == 0) {
			int out = open(out_path ? out_path : "/dev/null",
				       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
			int err = open(err_path ? err_path : "/dev/null",
				       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (out < 0 || nul < 0 || err < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 ||
			    dup2(err, 2) < 0)
				_exit(127);
			execv(argv[0], argv);
			_exit(127);
		}
		int st;
		while (waitpid(pid, &st, 0) < 0)
			if (errno != EINTR)
				_exit(127);
		struct rusage ru;
		long kb = getrusage(RUSAGE_CHILDREN, &ru) == 0 ? ru.ru_maxrss : -1;
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		char msg[64];
		int n = snprintf(msg, sizeof msg, "%d %ld\n", code, kb);
		if (write(pfd[1], msg, (size_t)n) != n)
			_exit(127);
		_exit(0);
	}
	close(pfd[1]);
	char buf[64] = "";
	ssize_t n = read(pfd[0], buf, sizeof buf - 1);
	close(pfd[0]);
	int st;
	while (waitpid(helper, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	int code = -1;
	*rss_kb = -1;
	if (n > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "%d %ld", &code, rss_kb) != 2)
			code = -1;
	}
	return code;
}

static void rm_tree(const char *dir)
{
	if (!strncmp(dir, "/tmp/racerepro-bench-", 21)) /* only our own scratch folders */
		rr__remove_tree(dir);
}

/* ---- 1b. the libFuzzer target --------------------------------------------------
 * The scenario's fuzz target (fuzz/libfuzzer.c, built by fuzz/fuzz.mk with
 * clang and ASan): trial k is `TARGET -seed=k+1 -runs=CAP -max_total_time=CAP_S`
 * on an empty corpus, with RR_FUZZ_FEEDBACK=1 (interleaving pairs as extra
 * counters) or 0 (code coverage only). Iterations: libFuzzer's executed units
 * when it stopped (-print_final_stats=1, printed also at a crash); seconds:
 * the process's wall time, start and setup included as in the rows above. */
static void run_fuzz_trials(struct bench *b, int si, int row)
{
	struct trials *t = &b->t[si][row];
	memset(t, 0, sizeof *t);
	char target[PATH_MAX];
	snprintf(target, sizeof target, "%s/%s", b->fuzz_dir, b->sc[si]->name);
	if (access(target, X_OK) < 0) {
		snprintf(b->fuzz_why, sizeof b->fuzz_why, "%s is not built (make fuzz-libfuzzer)",
			 target);
		return;
	}
	if (setenv("RR_FUZZ_FEEDBACK", row == ROW_LF ? "1" : "0", 1) < 0 ||
	    setenv("RR_FUZZ_VARIANT", b->buggy[si]->name, 1) < 0)
		rr__fatal("setenv: %s", strerror(errno));
	for (int k = 0; k < b->ntrials && !rr__driver_interrupted(); k++) {
		char tmp[] = "/tmp/racerepro-bench-XXXXXX";
		if (!mkdtemp(tmp)) {
			snprintf(b->fuzz_why, sizeof b->fuzz_why, "mkdtemp: %s", strerror(errno));
			break;
		}
		char corpus[PATH_MAX], prefix[PATH_MAX], log[PATH_MAX], seed[32], runs[32], mtt[32],
			art[PATH_MAX + 32];
		snprintf(corpus, sizeof corpus, "%s/corpus", tmp);
		snprintf(prefix, sizeof prefix, "%s/", tmp);
		snprintf(log, sizeof log, "%s/fuzz.log", tmp);
		snprintf(seed, sizeof seed, "-seed=%d", k + 1); /* 0 would mean "random" */
		snprintf(runs, sizeof runs, "-runs=%" PRIu64, b->cap_it);
		snprintf(mtt, sizeof mtt, "-max_total_time=%.0f", ceil(b->cap_s));
		snprintf(art, sizeof art, "-artifact_prefix=%s", prefix);
		if (mkdir(corpus, 0700) < 0 || setenv("RR_SCRATCH_BASE", tmp, 1) < 0) {
			snprintf(b->fuzz_why, sizeof b->fuzz_why, "%s: %s", corpus, strerror(errno));
			rm_tree(tmp);
			break;
		}
		char *argv[] = {target, seed, runs, mtt, "-print_final_stats=1", art, corpus, NULL};
		long rss;
		double t0 = now_s();
		rr__bench_run_measured(argv, NULL, log, &rss);
		double el = now_s() - t0;
		/* What libFuzzer said, read line by line: whether it wrote a crash,
		 * and how many units it ran. */
		uint64_t units = 0;
		int crashed = 0;
		FILE *f = fopen(log, "r");
		if (f) {
			char line[1024];
			while (fgets(line, sizeof line, f)) {
				unsigned long long u;
				if (sscanf(line, "stat::number_of_executed_units: %llu", &u) == 1)
					units = u;
				if (strstr(line, "Test unit written to ") && strstr(line, "/crash-"))
					crashed = 1;
			}
			fclose(f);
		}
		rm_tree(tmp);
		if (crashed) {
			t->hits++;
			t->it[t->n] = units ? (double)units : 1;
			t->s[t->n] = el;
		} else {
			t->it[t->n] = INFINITY;
			t->s[t->n] = INFINITY;
			if (units > t->cap_it_seen)
				t->cap_it_seen = units;
			if (el > t->cap_s_seen)
				t->cap_s_seen = el;
		}
		t->n++;
	}
	unsetenv("RR_SCRATCH_BASE");
	unsetenv("RR_FUZZ_FEEDBACK");
	unsetenv("RR_FUZZ_VARIANT");
	if (!t->n)
		return;
	summarize_trials(b, t, si, row);
}

/* ---- 2. iterations per second and RSS per build ------------------------------ */

/* One run of BIN for DURATION_S; fills *N, *T (the cell's iterations and
 * elapsed seconds) and *RSS_KB. Returns 0, or -1 with WHY set. */
static int rate_run(const char *bin, const char *scenario, double duration_s, uint64_t *n,
		    double *t, long *rss_kb, char *why, size_t whycap)
{
	char tmp[] = "/tmp/racerepro-bench-XXXXXX";
	if (!mkdtemp(tmp)) {
		snprintf(why, whycap, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	char outdir[PATH_MAX], dur[32];
	snprintf(outdir, sizeof outdir, "%s/run", tmp);
	snprintf(dur, sizeof dur, "%.0fms", duration_s * 1e3);
	char *argv[] = {(char *)bin, "run", (char *)scenario, "--variant", "fixed",
			"--strategy", "none", "--duration", dur, "--seed", "1", "--quiet",
			"--out", outdir, NULL};
	int code = rr__bench_run_measured(argv, NULL, NULL, rss_kb);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/summary.json", outdir);
	json_t *j = json_load_file(path, 0, NULL);
	json_t *cell = j ? json_array_get(json_object_get(j, "cells"), 0) : NULL;
	int rc = 0;
	if (!cell) {
		snprintf(why, whycap, "the run exited with %d and left no summary.json", code);
		rc = -1;
	} else {
		const char *verdict = json_string_value(json_object_get(cell, "verdict"));
		*n = (uint64_t)json_integer_value(json_object_get(cell, "iterations"));
		*t = json_number_value(json_object_get(cell, "elapsed_s"));
		if (verdict && (!strcmp(verdict, "skipped") || !strcmp(verdict, "error"))) {
			snprintf(why, whycap, "%s", verdict);
			rc = -1;
		}
	}
	json_decref(j);
	rm_tree(tmp);
	return rc;
}

/* The steady rate, without the worker's start and the scenario's setup: two
 * runs, D and 3D long, and the difference of their counts over the
 * difference of their times. D grows while the short run is mostly setup. */
static void run_rate(struct bench *b, int si, int bi)
{
	struct rate *r = &b->r[si][bi];
	memset(r, 0, sizeof *r);
	char bin[PATH_MAX];
	snprintf(bin, sizeof bin, "%s/%s/racerepro", b->buildroot, b->builds[bi]);
	if (access(bin, X_OK) < 0) {
		snprintf(r->why, sizeof r->why, "%s not built (make SAN=%s)", bin, b->builds[bi]);
		return;
	}
	double d = b->rate_s / 2;
	int ran = 0;
	/* quick: 0.5 + 1.5 s, then 2 + 6 s at most; full: up to 10 + 30 s. */
	for (int attempt = 0; attempt < (b->quick ? 2 : 3); attempt++, d *= 4) {
		uint64_t n1 = 0, n2 = 0;
		double t1 = 0, t2 = 0;
		long rss1 = -1, rss2 = -1;
		if (rate_run(bin, b->sc[si]->name, d, &n1, &t1, &rss1, r->why, sizeof r->why) < 0 ||
		    rate_run(bin, b->sc[si]->name, 3 * d, &n2, &t2, &rss2, r->why, sizeof r->why) < 0)
			break;
		r->rss_kb = rss1 > rss2 ? rss1 : rss2;
		r->iterations = n2;
		r->elapsed = t2;
		r->rate_all = t2 > 0 ? (double)n2 / t2 : 0;
		ran = n2 > 0;
		if (n1 >= 5 && n2 > n1 && t2 > t1) {
			r->rate = (double)(n2 - n1) / (t2 - t1);
			r->done = 1;
			break;
		}
		snprintf(r->why, sizeof r->why,
			 "no steady rate: the %.1f s run had %" PRIu64 " iterations (mostly setup)", d,
			 n1);
	}
	if (!r->done && ran) {
		/* The overall rate is still worth a row; the steady one is unknown. */
		r->done = 1;
		r->rate = -1;
	}
	fprintf(log_out, "bench: %s [%s]: %.0f iterations/s steady, %.0f with setup, peak RSS %ld KiB%s%s\n",
		b->sc[si]->name, b->builds[bi], r->rate, r->rate_all, r->rss_kb,
		r->done && r->rate >= 0 ? "" : ", ", r->done && r->rate >= 0 ? "" : r->why);
}

/* ---- 3. overhead against the bare episode ----------------------------------- */

/* `racerepro-bench --bare-loop SCENARIO --iterations N` (in the bare
 * build): setup once, then N episodes of the fixed variant in a plain loop;
 * prints {"iterations":N,"seconds":S} on stdout. */
static int bare_loop(const char *name, uint64_t n)
{
	const struct rr_scenario *sc = rr__scenario_find(name);
	if (!sc) {
		fprintf(stderr, "racerepro-bench: unknown scenario '%s'\n", name);
		return RR_EXIT_USAGE;
	}
	static struct rr__run_config cfg;
	/* Shared, as the driver maps it: processes a scenario forks (ftok's
	 * writers) mark their slot exited in it. */
	struct rr__worker_shm *wp = mmap(NULL, sizeof *wp, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (wp == MAP_FAILED) {
		fprintf(stderr, "racerepro-bench: mmap: %s\n", strerror(errno));
		return RR_EXIT_ENV;
	}
	struct rr__worker_shm *w = wp;
	cfg.scenario = sc;
	cfg.variant = rr__variant_find(sc, "fixed");
	if (!cfg.variant) {
		fprintf(stderr, "racerepro-bench: %s has no fixed variant\n", name);
		return RR_EXIT_USAGE;
	}
	cfg.strategy = RR_STRAT_NONE;
	cfg.iterations = n;
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < RR_MAX_TRACKED; i++)
		w->tracked_shm[i] = -1;
	static struct rr__engine e;
	if (rr__engine_setup(&e, &cfg, w, RR_IN_PROCESS) != 0) {
		fprintf(stderr, "racerepro-bench: %s: setup failed or skipped: %s\n", name,
			w->message);
		return RR_EXIT_ENV;
	}
	double t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		/* The engine's iteration, as the harness runs it: the scheduler's
		 * state is begun and ended (the harness functions a bare scenario
		 * keeps, processes and roles, use it); under none that is a few
		 * KiB of memset. */
		int rc = rr__engine_iterate(&e, RR_STRAT_NONE, i, i, NULL, 0, 0, 0);
		if (rc < 0) {
			fprintf(stderr, "racerepro-bench: %s: iteration %" PRIu64 " failed: %s\n", name,
				i, w->message);
			return RR_EXIT_ENV;
		}
	}
	double el = now_s() - t0;
	rr__engine_teardown(&e);
	printf("{\"iterations\":%" PRIu64 ",\"seconds\":%.6f}\n", n, el);
	return RR_EXIT_OK;
}

/* Seconds the harness takes for N iterations in one worker (start and
 * setup included), or -1. */
static double harness_time(struct bench *b, int si, int strategy, uint64_t n)
{
	struct rr__run_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.scenario = b->sc[si];
	cfg.variant = rr__variant_find(b->sc[si], "fixed");
	cfg.strategy = strategy;
	cfg.seed = 1;
	cfg.seed_given = 1;
	cfg.iterations = n;
	cfg.jobs = 1;
	cfg.quiet = 1;
	rr__ctx.cfg = &cfg;
	static struct rr__cell cell;
	quiet_begin();
	rr__run_cell(&cfg, NULL, &cell);
	quiet_end();
	if (cell.skipped || cell.counts[RR_ERROR] || cell.iterations < n || cell.elapsed_s <= 0)
		return -1;
	return cell.elapsed_s;
}

/* The harness's steady rate: N more iterations cost T(2N) - T(N), which
 * leaves out the worker's start and setup as the bare loop's timing does. */
static double harness_rate(struct bench *b, int si, int strategy, uint64_t n)
{
	double t1 = harness_time(b, si, strategy, n), t2 = harness_time(b, si, strategy, 2 * n);
	if (t1 < 0 || t2 <= t1)
		return -1;
	return (double)n / (t2 - t1);
}

static void run_overhead(struct bench *b, int si)
{
	struct overhead *o = &b->o[si];
	memset(o, 0, sizeof *o);
	/* About overhead_s of work at the plain build's measured rate, so that a
	 * slow scenario does not take minutes; at least 20 iterations. */
	uint64_t n = b->overhead_it;
	for (int k = 0; !n && k < b->nbuilds; k++)
		if (!strcmp(b->builds[k], "none") && b->r[si][k].done)
			n = (uint64_t)(b->r[si][k].rate * b->overhead_s);
	if (n < 20)
		n = 20;
	o->iterations = n;
	if (!b->bare_bin || access(b->bare_bin, X_OK) < 0) {
		snprintf(o->why, sizeof o->why, "no bare build (scripts/bench.sh makes one)");
		return;
	}
	if (!rr__variant_find(b->sc[si], "fixed")) {
		snprintf(o->why, sizeof o->why, "no fixed variant");
		return;
	}
	char tmp[] = "/tmp/racerepro-bench-XXXXXX";
	if (!mkdtemp(tmp)) {
		snprintf(o->why, sizeof o->why, "mkdtemp: %s", strerror(errno));
		return;
	}
	char out[PATH_MAX], its[32];
	snprintf(out, sizeof out, "%s/bare.json", tmp);
	snprintf(its, sizeof its, "%" PRIu64, n);
	char *argv[] = {(char *)b->bare_bin, "--bare-loop", (char *)b->sc[si]->name, "--iterations",
			its, NULL};
	long rss;
	int code = rr__bench_run_measured(argv, out, NULL, &rss);
	json_t *j = json_load_file(out, 0, NULL);
	double secs = j ? json_number_value(json_object_get(j, "seconds")) : 0;
	json_decref(j);
	rm_tree(tmp);
	if (code != 0 || secs <= 0) {
		snprintf(o->why, sizeof o->why, "the bare loop exited with %d", code);
		return;
	}
	o->bare_rate = (double)n / secs;
	o->none_rate = harness_rate(b, si, RR_STRAT_NONE, n);
	o->ctl_rate = harness_rate(b, si, RR_STRAT_RANDOM, n);
	if (o->none_rate <= 0 || o->ctl_rate <= 0) {
		snprintf(o->why, sizeof o->why, "the harness run did not complete its iterations");
		return;
	}
	o->done = 1;
	fprintf(log_out, "bench: %s overhead: bare %.0f/s, none %.0f/s (%.2fx), random %.0f/s (%.2fx)\n",
		b->sc[si]->name, o->bare_rate, o->none_rate, o->bare_rate / o->none_rate,
		o->ctl_rate, o->bare_rate / o->ctl_rate);
}

/* ---- output ----------------------------------------------------------------- */

static void machine(struct bench *b)
{
	b->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(b->cpu, sizeof b->cpu, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[512];
		while (fgets(line, sizeof line, f)) {
			if (!strncmp(line, "model name", 10)) {
				char *c = strchr(line, ':');
				if (c) {
					c++;
					while (*c == ' ' || *c == '\t')
						c++;
					c[strcspn(c, "\n")] = '\0';
					snprintf(b->cpu, sizeof b->cpu, "%s", c);
				}
				break;
			}
		}
		fclose(f);
	}
	struct utsname u;
	if (uname(&u) == 0)
		snprintf(b->kernel, sizeof b->kernel, "%s %s %s", u.sysname, u.release, u.machine);
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(b->when, sizeof b->when, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The 1-minute load average, or -1: a bench on a busy machine measures the
 * other load as well, and the report must say so. */
static double loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static void jnum_or_null(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fprintf(f, "null");
}

static int write_json(struct bench *b, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	char e1[4200], e2[600];
	fprintf(f, "{\n  \"format\": 1,\n  \"tool\": \"racerepro bench\",\n  \"time\": \"%s\",\n",
		b->when);
	fprintf(f, "  \"mode\": \"%s\",\n  \"command\": \"%s\",\n", b->quick ? "quick" : "full",
		rr__json_escape(b->command, e1, sizeof e1));
	fprintf(f, "  \"machine\": {\"nproc\": %ld, \"cpu\": \"%s\", ", b->ncpu,
		rr__json_escape(b->cpu, e2, sizeof e2));
	fprintf(f, "\"kernel\": \"%s\", \"build\": \"%s\", \"loadavg_start\": %.2f, "
		   "\"loadavg_end\": %.2f},\n",
		rr__json_escape(b->kernel, e2, sizeof e2), RR_BUILD_NAME, b->load_start, b->load_end);
	fprintf(f, "  \"trials\": %d,\n  \"cap\": {\"iterations\": %" PRIu64 ", \"seconds\": %.3f},\n",
		b->ntrials, b->cap_it, b->cap_s);
	fprintf(f, "  \"time_to_first\": [");
	for (int i = 0, first = 1; i < b->nsc; i++) {
		for (int j = 0; j < NROWS; j++) {
			const struct trials *t = &b->t[i][j];
			if (!t->n)
				continue;
			fprintf(f, "%s\n    {\"scenario\": \"%s\", \"variant\": \"%s\", \"strategy\": \"%s\", ",
				first ? "" : ",", b->sc[i]->name, b->buggy[i]->name,
				row_name(j));
			first = 0;
			fprintf(f, "\"trials\": %d, \"reproduced\": %d, \"capped\": %d, ", t->n, t->hits,
				t->n - t->hits);
			fprintf(f, "\"median_iterations\": ");
			jnum_or_null(f, t->med_it);
			fprintf(f, ", \"p90_iterations\": ");
			jnum_or_null(f, t->p90_it);
			fprintf(f, ", \"median_seconds\": ");
			jnum_or_null(f, t->med_s);
			fprintf(f, ", \"p90_seconds\": ");
			jnum_or_null(f, t->p90_s);
			fprintf(f, ", \"iterations\": [");
			for (int k = 0; k < t->n; k++) {
				fprintf(f, "%s", k ? ", " : "");
				jnum_or_null(f, t->it[k]);
			}
			fprintf(f, "], \"seconds\": [");
			for (int k = 0; k < t->n; k++) {
				fprintf(f, "%s", k ? ", " : "");
				jnum_or_null(f, t->s[k]);
			}
			fprintf(f, "]}");
		}
	}
	fprintf(f, "\n  ],\n  \"throughput\": [");
	for (int i = 0, first = 1; i < b->nsc; i++) {
		for (int k = 0; k < b->nbuilds; k++) {
			const struct rate *r = &b->r[i][k];
			fprintf(f, "%s\n    {\"scenario\": \"%s\", \"build\": \"%s\", \"variant\": \"fixed\", "
				   "\"strategy\": \"none\", \"measured\": %s",
				first ? "" : ",", b->sc[i]->name, b->builds[k], r->done ? "true" : "false");
			first = 0;
			if (r->done) {
				fprintf(f, ", \"iterations\": %" PRIu64 ", \"seconds\": %.3f, "
					   "\"iterations_per_s\": ",
					r->iterations, r->elapsed);
				jnum_or_null(f, r->rate >= 0 ? r->rate : NAN);
				fprintf(f, ", \"iterations_per_s_with_setup\": %.1f, \"peak_rss_kib\": %ld}",
					r->rate_all, r->rss_kb);
			} else {
				fprintf(f, ", \"why\": \"%s\"}", rr__json_escape(r->why, e2, sizeof e2));
			}
		}
	}
	fprintf(f, "\n  ],\n  \"overhead\": [");
	for (int i = 0; i < b->nsc; i++) {
		const struct overhead *o = &b->o[i];
		fprintf(f, "%s\n    {\"scenario\": \"%s\", \"variant\": \"fixed\", \"measured\": %s",
			i ? "," : "", b->sc[i]->name, o->done ? "true" : "false");
		if (o->done)
			fprintf(f, ", \"iterations\": %" PRIu64 ", \"bare_per_s\": %.1f, "
				   "\"none_per_s\": %.1f, \"random_per_s\": %.1f, "
				   "\"overhead_none\": %.3f, \"overhead_random\": %.3f}",
				o->iterations, o->bare_rate, o->none_rate, o->ctl_rate,
				o->bare_rate / o->none_rate, o->bare_rate / o->ctl_rate);
		else
			fprintf(f, ", \"why\": \"%s\"}", rr__json_escape(o->why, e2, sizeof e2));
	}
	fprintf(f, "\n  ],\n  \"libfuzzer\": {\"measured\": %s, \"why\": \"%s\"},\n",
		b->fuzz_why[0] ? "false" : "true",
		rr__json_escape(b->fuzz_why[0] ? b->fuzz_why : "", e2, sizeof e2));
	fprintf(f, "  \"total_seconds\": %.1f\n}\n", b->total_s);
	int bad = ferror(f);
	return fclose(f) || bad ? -1 : 0;
}

/* The best strategy of a scenario: the lowest median seconds among the
 * non-baseline strategies (ties: fewer iterations). */
static int best_strategy(const struct bench *b, int i)
{
	int best = -1;
	for (int j = 0; j < NROWS; j++) {
		if (j < NSTRAT && strat_list[j] == RR_STRAT_NONE)
			continue;
		const struct trials *t = &b->t[i][j];
		if (!t->n)
			continue;
		if (best < 0 || t->med_s < b->t[i][best].med_s ||
		    (t->med_s == b->t[i][best].med_s && t->med_it < b->t[i][best].med_it))
			best = j;
	}
	return best;
}

static int write_md(struct bench *b, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "# racerepro-bench (%s)\n\n", b->quick ? "quick: small caps, for a smoke check"
							  : "full");
	fprintf(f, "Measured %s on %ld CPUs, `%s`, %s; harness build `%s`; %.0f s in all.\n\n",
		b->when, b->ncpu, b->cpu, b->kernel, RR_BUILD_NAME, b->total_s);
	fprintf(f, "Command: `%s`\n\n", b->command);
	fprintf(f, "Load average (1 min) at the start %.2f, at the end %.2f, on %ld CPUs.%s\n\n",
		b->load_start, b->load_end, b->ncpu,
		b->load_start > b->ncpu || b->load_end > b->ncpu
			? " **The machine was busy with other work: every time and rate below "
			  "includes that contention; rerun on an idle machine for the record.**"
			: "");
	fprintf(f, "## Time to first reproduction\n\n");
	fprintf(f, "Each scenario's expected-to-fail variant; %d trials per strategy, trial k with "
		   "run seed k, one worker, stopping at the first finding (bug, sanitizer or crash). "
		   "Cap per trial: %" PRIu64 " iterations or %.3g s, whichever comes first; a trial "
		   "that hits it counts as more than the cap, so a percentile that lands on one reads "
		   "\"> cap\". Seconds include starting the worker and the scenario's setup.\n\n",
		b->ntrials, b->cap_it, b->cap_s);
	fprintf(f, "| scenario | strategy | reproduced | median iterations | p90 iterations | "
		   "median time | p90 time |\n|---|---|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < b->nsc; i++) {
		for (int j = 0; j < NROWS; j++) {
			const struct trials *t = &b->t[i][j];
			if (!t->n)
				continue;
			char a[32], c[32], d[32], e[32];
			fmt_it(a, sizeof a, t->med_it, b->cap_it);
			fmt_it(c, sizeof c, t->p90_it, b->cap_it);
			fmt_s(d, sizeof d, t->med_s, b->cap_s);
			fmt_s(e, sizeof e, t->p90_s, b->cap_s);
			fprintf(f, "| %s | %s | %d/%d | %s | %s | %s | %s |\n", b->sc[i]->name,
				row_name(j), t->hits, t->n, a, c, d, e);
		}
	}
	if (b->fuzz_why[0])
		fprintf(f, "\nlibFuzzer (with and without interleaving feedback): not measured: %s.\n",
			b->fuzz_why);
	else
		fprintf(f, "\n*libfuzzer* rows: the scenario's libFuzzer target (clang, ASan; "
			   "`fuzz/libfuzzer.c`), trial k run as `TARGET -seed=k+1 -runs=%" PRIu64
			   " -max_total_time=%.0f` on an empty corpus, with the interleaving feedback "
			   "(`RR_FUZZ_FEEDBACK=1`) or without it (`-nofeedback`, code coverage only); "
			   "iterations are libFuzzer's executed units at the crash, seconds the "
			   "process's wall time. The target is an ASan build, the other rows a plain "
			   "one.\n",
			b->cap_it, ceil(b->cap_s));

	fprintf(f, "\n## Iterations per second and peak RSS per build\n\n");
	fprintf(f, "`build/<san>/racerepro run SCENARIO --variant fixed --strategy none --duration D "
		   "--seed 1 --quiet`, one worker, twice: D = %.3g s and 3D (D x4 while the short run "
		   "has fewer than 5 iterations), read back from summary.json. *steady*: the "
		   "difference of the two runs' iterations over the difference of their times, so the "
		   "worker's start and the scenario's setup drop out; *all*: the longer run's "
		   "iterations over its whole time. Peak RSS: the largest process of either run "
		   "(getrusage of the run's process tree: the worker, as it is a fork of the "
		   "driver).\n\n",
		b->rate_s / 2);
	fprintf(f, "| scenario |");
	for (int k = 0; k < b->nbuilds; k++)
		fprintf(f, " %s steady it/s | %s all it/s | %s peak RSS |", b->builds[k], b->builds[k],
			b->builds[k]);
	fprintf(f, "\n|---|");
	for (int k = 0; k < b->nbuilds; k++)
		fprintf(f, "---:|---:|---:|");
	fprintf(f, "\n");
	for (int i = 0; i < b->nsc; i++) {
		fprintf(f, "| %s |", b->sc[i]->name);
		for (int k = 0; k < b->nbuilds; k++) {
			const struct rate *r = &b->r[i][k];
			if (r->done && r->rate < 0)
				fprintf(f, " n/a (%s) | %.0f | %.1f MiB |", r->why, r->rate_all,
					(double)r->rss_kb / 1024);
			else if (r->done)
				fprintf(f, " %.0f | %.0f | %.1f MiB |", r->rate, r->rate_all,
					(double)r->rss_kb / 1024);
			else
				fprintf(f, " n/a (%s) | | |", r->why);
		}
		fprintf(f, "\n");
	}

	fprintf(f, "\n## Harness overhead against the bare episode\n\n");
	fprintf(f, "The fixed variant, N iterations (about %.1f s at the plain build's steady rate, "
		   "at least 20). *bare*: the scenario compiled with `racerepro_bare.h` (race points, trace "
		   "events and fd names compiled out; threads, mutexes, condition variables and fd "
		   "calls straight to pthreads and libc; the completion port, timers, rr_work_us and "
		   "processes stay the harness's) and its `iterate()` called N times in a plain "
		   "in-process loop after one `setup()` (`racerepro-bench --bare-loop` of the bare build), the loop "
		   "alone timed. *none* and *random*: the normal harness, one worker process, timed as "
		   "T(2N) - T(N) so that the worker's start and setup drop out. Overhead = bare rate / "
		   "harness rate. Under a controlled strategy time is virtual, so a scenario that waits "
		   "on timers (dtls_timer_rx) runs faster than its bare loop, which waits for real; "
		   "and a bare rate below the harness's (overhead under 1x) means the bare build is "
		   "not a faithful stand-in for that scenario (its blocking waits are the kernel's, "
		   "the harness's are not all): read those rows as \"no measurable overhead\", not "
		   "as a speed-up.\n\n",
		b->overhead_s);
	fprintf(f, "| scenario | iterations | bare it/s | none it/s | overhead none | random it/s | "
		   "overhead random |\n|---|---:|---:|---:|---:|---:|---:|\n");
	for (int i = 0; i < b->nsc; i++) {
		const struct overhead *o = &b->o[i];
		if (o->done)
			fprintf(f, "| %s | %" PRIu64 " | %.0f | %.0f | %.2fx | %.0f | %.2fx |\n",
				b->sc[i]->name, o->iterations, o->bare_rate, o->none_rate, o->bare_rate / o->none_rate, o->ctl_rate,
				o->bare_rate / o->ctl_rate);
		else
			fprintf(f, "| %s | | n/a (%s) | | | | |\n", b->sc[i]->name, o->why);
	}

	fprintf(f, "\n## Targets of issue 7\n\n");
	for (int i = 0; i < b->nsc; i++) {
		int bj = best_strategy(b, i);
		int nj = 0; /* none is strat_list[0] */
		if (bj < 0 || !b->t[i][nj].n)
			continue;
		const struct trials *bt = &b->t[i][bj], *nt = &b->t[i][nj];
		const char *bn = row_name(bj);
		char s1[32], s2[32];
		fmt_s(s1, sizeof s1, bt->med_s, b->cap_s);
		fmt_it(s2, sizeof s2, bt->med_it, b->cap_it);
		int ok_s = isfinite(bt->med_s) && bt->med_s <= 0.1;
		int ok_it = isfinite(bt->med_it) && bt->med_it <= 100;
		fprintf(f, "- **%s**: best strategy `%s`, median %s and %s iterations: ", b->sc[i]->name,
			bn, s1, s2);
		if (ok_s && ok_it)
			fprintf(f, "meets median <= 100 ms and <= 100 iterations");
		else if (!isfinite(bt->med_s))
			fprintf(f, "**misses** the target: the median trial hit the cap");
		else
			fprintf(f, "**misses** %s%s%s", ok_s ? "" : "<= 100 ms",
				!ok_s && !ok_it ? " and " : "", ok_it ? "" : "<= 100 iterations");
		if (isfinite(bt->med_s) && !ok_s)
			fprintf(f, " (time %.1fx over)", bt->med_s / 0.1);
		if (isfinite(bt->med_it) && !ok_it)
			fprintf(f, " (iterations %.1fx over)", bt->med_it / 100);
		fprintf(f, ". ");
		/* >= 100x fewer iterations than none */
		if (!isfinite(bt->med_it))
			fprintf(f, "Against `none`: not measurable (the best strategy's median is capped).\n");
		else if (!isfinite(nt->med_it)) {
			double lb = (double)(nt->cap_it_seen ? nt->cap_it_seen : b->cap_it) /
				    (bt->med_it > 0 ? bt->med_it : 1);
			fprintf(f, "Against `none` (median capped, %d/%d reproduced): at least %.0fx fewer "
				   "iterations%s.\n",
				nt->hits, nt->n, lb,
				lb >= 100 ? ", meets >= 100x"
					  : "; the cap is too low to show >= 100x (raise --cap)");
		} else {
			double ratio = nt->med_it / (bt->med_it > 0 ? bt->med_it : 1);
			fprintf(f, "Against `none` (median %.0f iterations): %.1fx fewer iterations, %s.\n",
				nt->med_it, ratio,
				ratio >= 100 ? "meets >= 100x" : "**misses** >= 100x");
			if (ratio < 100)
				fprintf(f, "  Short by a factor of %.1f.\n", 100 / ratio);
		}
	}
	for (int i = 0; i < b->nsc; i++) {
		if (strcmp(b->sc[i]->name, "broken_pipe"))
			continue;
		for (int k = 0; k < b->nbuilds; k++) {
			if (strcmp(b->builds[k], "none"))
				continue;
			const struct rate *r = &b->r[i][k];
			if (!r->done || r->rate < 0)
				fprintf(f, "- broken_pipe under `none` (plain build): not measured (%s).\n",
					r->why);
			else if (r->rate >= 10000)
				fprintf(f, "- broken_pipe under `none` (plain build): %.0f it/s, meets >= "
					   "10,000 it/s.\n",
					r->rate);
			else
				fprintf(f, "- broken_pipe under `none` (plain build): %.0f it/s, **misses** "
					   ">= 10,000 it/s by %.1fx.\n",
					r->rate, 10000 / (r->rate > 0 ? r->rate : 1));
		}
	}
	for (int i = 0; i < b->nsc; i++) {
		const struct overhead *o = &b->o[i];
		if (!o->done)
			continue;
		double on = o->bare_rate / o->none_rate, oc = o->bare_rate / o->ctl_rate;
		fprintf(f, "- %s overhead: none %.2fx (%s), controlled %.2fx (%s).\n", b->sc[i]->name, on,
			on <= 1.1 ? "meets <= 1.1x" : "**misses** <= 1.1x", oc,
			oc <= 2 ? "meets <= 2x" : "**misses** <= 2x");
	}
	fprintf(f, "\nThe curves (fraction of trials reproduced against elapsed time) are in "
		   "`bench.svg`; every number above is in `bench.json`.\n");
	int bad = ferror(f);
	return fclose(f) || bad ? -1 : 0;
}

static const char *const strat_colour[] = {"#7f7f7f", "#ff7f0e", "#1f77b4", "#2ca02c",
					   "#d62728", "#9467bd", "#8c564b"};

static int write_svg(struct bench *b, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	const int W = 760, PH = 200, L = 60, R = 130, T = 30, B = 40;
	int H = b->nsc * (PH + T + B) + 10;
	double xmin = 1e-3, xmax = b->cap_s > xmin * 10 ? b->cap_s : xmin * 10;
	double lmin = log10(xmin), lmax = log10(xmax), pw = W - L - R;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
		   "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
		W, H, W, H);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
	for (int i = 0; i < b->nsc; i++) {
		double y0 = i * (PH + T + B) + T;
		fprintf(f, "<text x=\"%d\" y=\"%.0f\" font-size=\"14\" font-weight=\"bold\">%s/%s: "
			   "fraction of %d trials reproduced by elapsed time</text>\n",
			L, y0 - 10, b->sc[i]->name, b->buggy[i]->name, b->ntrials);
		fprintf(f, "<rect x=\"%d\" y=\"%.0f\" width=\"%.0f\" height=\"%d\" fill=\"#fafafa\" "
			   "stroke=\"#999\"/>\n",
			L, y0, pw, PH);
		for (int e = (int)floor(lmin); e <= (int)ceil(lmax); e++) {
			if (e < lmin - 1e-9 || e > lmax + 1e-9)
				continue;
			double x = L + (e - lmin) / (lmax - lmin) * pw;
			const char *lab = e == -3 ? "1 ms" : e == -2 ? "10 ms" : e == -1 ? "100 ms"
					  : e == 0 ? "1 s" : e == 1 ? "10 s" : e == 2 ? "100 s" : "1000 s";
			fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>"
				   "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
				x, y0, x, y0 + PH, x, y0 + PH + 14, lab);
		}
		for (int q = 0; q <= 4; q++) {
			double y = y0 + PH - q * PH / 4.0;
			fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
				   "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.2f</text>\n",
				L, y, L + pw, y, L - 4, y + 4, q / 4.0);
		}
		fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">elapsed "
			   "time to first reproduction (log scale; cap %.3g s)</text>\n",
			L + pw / 2, y0 + PH + 30, b->cap_s);
		for (int j = 0; j < NROWS; j++) {
			const struct trials *t = &b->t[i][j];
			if (!t->n)
				continue;
			double s[MAX_TRIALS];
			memcpy(s, t->s, (size_t)t->n * sizeof *s);
			qsort(s, (size_t)t->n, sizeof *s, cmp_double);
			fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%d,%.1f",
				strat_colour[j], L, y0 + PH);
			double frac = 0, lastx = L;
			for (int k = 0; k < t->n && isfinite(s[k]); k++) {
				double v = s[k] < xmin ? xmin : s[k] > xmax ? xmax : s[k];
				double x = L + (log10(v) - lmin) / (lmax - lmin) * pw;
				fprintf(f, " %.1f,%.1f", x, y0 + PH - frac * PH);
				frac = (double)(k + 1) / t->n;
				fprintf(f, " %.1f,%.1f", x, y0 + PH - frac * PH);
				lastx = x;
			}
			(void)lastx;
			fprintf(f, " %.1f,%.1f\"/>\n", L + pw, y0 + PH - frac * PH);
			fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" "
				   "stroke-width=\"3\"/><text x=\"%.0f\" y=\"%.0f\" font-size=\"12\">%s "
				   "(%d/%d)</text>\n",
				L + pw + 10, y0 + 12 + j * 18, L + pw + 30, y0 + 12 + j * 18,
				strat_colour[j], L + pw + 34, y0 + 16 + j * 18,
				row_name(j), t->hits, t->n);
		}
	}
	fprintf(f, "</svg>\n");
	int bad = ferror(f);
	return fclose(f) || bad ? -1 : 0;
}

/* ---- the command ------------------------------------------------------------ */

static const char *const bench_help =
	"usage: racerepro-bench [--quick] [OPTIONS]\n"
	"\n"
	"Measures time to first reproduction per scenario and strategy, iterations per\n"
	"second and peak RSS per build, and the harness's overhead against the bare\n"
	"scenario code; writes bench.md, bench.json and bench.svg (make bench runs it\n"
	"through scripts/bench.sh, which also makes the builds it needs).\n"
	"\n"
	"  --quick            small caps and short rate runs (make bench BENCH=quick)\n"
	"  --trials N         trials per scenario and strategy (default 20, quick 5;\n"
	"                     trial k uses run seed k)\n"
	"  --cap N            iterations per trial at most (default 100000; quick 1000)\n"
	"  --cap-time D       seconds per trial at most, setup included (default 30s;\n"
	"                     quick 3s)\n"
	"  --scenarios A,B    only these scenarios (default: all)\n"
	"  --builds LIST      builds for the rate table (default none,asan,tsan)\n"
	"  --buildroot DIR    where build/<san>/racerepro live (default build)\n"
	"  --rate-time D      length of each rate run (default 5s; quick 1s)\n"
	"  --bare BIN         the bare build's racerepro-bench (make BARE=1), for the\n"
	"                     overhead table\n"
	"  --fuzz-dir DIR     libFuzzer targets DIR/<scenario> (fuzz/fuzz.mk's\n"
	"                     $BUILDROOT/fuzz/libfuzzer) for the libfuzzer rows\n"
	"  --overhead-iterations N  iterations per overhead run (default: about 3 s,\n"
	"                     quick 0.5 s, at the plain build's rate; at least 20)\n"
	"  --out DIR          where to write the files (default reports)\n";

static int usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "racerepro-bench: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return RR_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--search"))
		return rr__bench_search(argc - 1, argv + 1);
	static struct bench b;
	memset(&b, 0, sizeof b);
	b.ntrials = 20;
	b.out = "reports";
	b.buildroot = "build";
	const char *scen = NULL, *builds = "none,asan,tsan", *bare = NULL;
	uint64_t cap = 0, cap_ns = 0, rate_ns = 0, oit = 0;
	const char *bare_loop_sc = NULL;
	uint64_t bare_n = 1000;
	int trials_given = 0;
	size_t cl = 0;
	/* The command as a person would type it. */
	for (int i = 0; i < argc && cl < sizeof b.command - 2; i++)
		cl += (size_t)snprintf(b.command + cl, sizeof b.command - cl, "%s%s", i ? " " : "",
				       i ? argv[i] : "racerepro-bench");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(bench_help, stdout);
			return RR_EXIT_OK;
		} else if (!strcmp(a, "--quick")) {
			b.quick = 1;
			continue;
		}
		if (!v)
			return usage("option %s needs a value (see --help)", a);
		i++;
		if (!strcmp(a, "--trials")) {
			uint64_t n;
			if (rr__parse_u64(v, &n) || n < 1 || n > MAX_TRIALS)
				return usage("--trials '%s' must be a whole number from 1 to 1000", v);
			b.ntrials = (int)n;
			trials_given = 1;
		} else if (!strcmp(a, "--cap") || !strcmp(a, "--overhead-iterations") ||
			   !strcmp(a, "--iterations")) {
			uint64_t n;
			if (rr__parse_u64(v, &n) || n < 1)
				return usage("'%s' must be a positive whole number", v);
			if (a[2] == 'c')
				cap = n;
			else if (a[2] == 'o')
				oit = n;
			else
				bare_n = n;
		} else if (!strcmp(a, "--cap-time") || !strcmp(a, "--rate-time")) {
			uint64_t ns;
			if (rr__parse_duration(v, &ns) || !ns)
				return usage("malformed duration '%s' (use e.g. 300ms, 5s or 1m)", v);
			if (a[2] == 'c')
				cap_ns = ns;
			else
				rate_ns = ns;
		} else if (!strcmp(a, "--scenarios")) {
			scen = v;
		} else if (!strcmp(a, "--builds")) {
			builds = v;
		} else if (!strcmp(a, "--buildroot")) {
			b.buildroot = v;
		} else if (!strcmp(a, "--bare")) {
			bare = v;
		} else if (!strcmp(a, "--fuzz-dir")) {
			b.fuzz_dir = v;
		} else if (!strcmp(a, "--out")) {
			b.out = v;
		} else if (!strcmp(a, "--bare-loop")) {
			bare_loop_sc = v;
		} else {
			return usage("unknown option '%s' (see racerepro-bench --help)", a);
		}
	}
	if (bare_loop_sc)
		return bare_loop(bare_loop_sc, bare_n);
	if (b.quick && !trials_given)
		b.ntrials = 5;
	b.cap_it = cap ? cap : b.quick ? 1000 : 100000;
	b.cap_s = cap_ns ? (double)cap_ns / 1e9 : b.quick ? 3 : 30;
	b.rate_s = rate_ns ? (double)rate_ns / 1e9 : b.quick ? 1 : 5;
	b.overhead_it = oit;
	b.overhead_s = b.quick ? 0.5 : 3;
	b.bare_bin = bare;

	/* Scenarios: each with an expected-to-fail variant. */
	char list[1024];
	snprintf(list, sizeof list, "%s", scen ? scen : "");
	if (scen) {
		for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			const struct rr_scenario *sc = rr__scenario_find(tok);
			if (!sc)
				return usage("unknown scenario '%s' (racerepro list shows them)", tok);
			if (b.nsc < MAX_SC)
				b.sc[b.nsc++] = sc;
		}
	} else {
		for (int i = 0; rr__registry[i] && b.nsc < MAX_SC; i++)
			b.sc[b.nsc++] = rr__registry[i];
	}
	for (int i = 0; i < b.nsc; i++) {
		for (const struct rr_variant *v = b.sc[i]->variants; v && v->name; v++)
			if (v->expect_failure && !b.buggy[i])
				b.buggy[i] = v;
		if (!b.buggy[i])
			return usage("scenario %s has no expected-to-fail variant to time", b.sc[i]->name);
	}
	static char blist[256];
	snprintf(blist, sizeof blist, "%s", builds);
	for (char *save = NULL, *tok = strtok_r(blist, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "none") && strcmp(tok, "asan") && strcmp(tok, "tsan") &&
		    strcmp(tok, "ubsan"))
			return usage("unknown build '%s' in --builds (use none, asan, tsan, ubsan)", tok);
		if (b.nbuilds < MAX_BUILDS)
			b.builds[b.nbuilds++] = tok;
	}
	struct stat st;
	if (mkdir(b.out, 0755) < 0 && (errno != EEXIST || stat(b.out, &st) < 0 ||
				       !S_ISDIR(st.st_mode))) {
		fprintf(stderr, "racerepro-bench: cannot make %s: %s\n", b.out, strerror(errno));
		return RR_EXIT_ENV;
	}
	machine(&b);
	b.load_start = loadavg();
	rr__driver_signals();
	double t0 = now_s();
	saved_stderr = dup(2);
	log_out = saved_stderr >= 0 ? fdopen(dup(saved_stderr), "w") : NULL;
	if (!log_out)
		log_out = stderr;
	setvbuf(log_out, NULL, _IOLBF, 0);
	fprintf(log_out, "bench: %d scenarios x %d strategies x %d trials (cap %" PRIu64
			" iterations / %.3g s)\n",
		b.nsc, NSTRAT, b.ntrials, b.cap_it, b.cap_s);
	for (int i = 0; i < b.nsc && !rr__driver_interrupted(); i++) {
		for (int j = 0; j < NSTRAT && !rr__driver_interrupted(); j++)
			run_trials(&b, i, j);
		if (b.fuzz_dir) {
			run_fuzz_trials(&b, i, ROW_LF);
			run_fuzz_trials(&b, i, ROW_LF_NOFB);
		}
	}
	if (!b.fuzz_dir)
		snprintf(b.fuzz_why, sizeof b.fuzz_why,
			 "no --fuzz-dir given (make bench measures them in full mode only)");
	for (int i = 0; i < b.nsc && !rr__driver_interrupted(); i++)
		for (int k = 0; k < b.nbuilds && !rr__driver_interrupted(); k++)
			run_rate(&b, i, k);
	for (int i = 0; i < b.nsc && !rr__driver_interrupted(); i++)
		run_overhead(&b, i);
	if (rr__driver_interrupted()) {
		fprintf(stderr, "racerepro-bench: interrupted; no files written\n");
		return 128 + rr__driver_interrupted();
	}
	b.total_s = now_s() - t0;
	b.load_end = loadavg();
	char path[PATH_MAX + 32];
	int bad = 0;
	snprintf(path, sizeof path, "%s/bench.json", b.out);
	bad |= write_json(&b, path) < 0;
	snprintf(path, sizeof path, "%s/bench.md", b.out);
	bad |= write_md(&b, path) < 0;
	snprintf(path, sizeof path, "%s/bench.svg", b.out);
	bad |= write_svg(&b, path) < 0;
	if (bad) {
		fprintf(stderr, "racerepro-bench: cannot write the files in %s: %s\n", b.out,
			strerror(errno));
		return RR_EXIT_ENV;
	}
	fprintf(stderr, "bench: wrote %s/bench.md, bench.json, bench.svg in %.0f s\n", b.out,
		b.total_s);
	return RR_EXIT_OK;
}
