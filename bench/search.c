/*
 * search.c: `racerepro-bench --search`, the measurement protocol of the
 * search strategies (issue 11), written to OUT/bench-search.{md,json}.
 *
 * Per cell (a scenario's buggy variant with its parameters) and contender
 * (random, pct, surw, pos, portfolio, greybox; with --fuzz-dir the cell's
 * libFuzzer target and with --afl-dir its AFL++ target, both counted in
 * executions), TRIALS trials: trial k is
 * `BIN run SCENARIO --strategy S --seed k --iterations CAP --stop-on-failure`
 * in a subprocess, and its summary.json (read with jansson) gives the
 * iterations to the first failure, or a trial censored at the iterations it
 * ran. The protocol compares a fuzz target (clang, ASan) with the strategies
 * in the same build, so BIN is build/asan/racerepro-test (which also has the
 * hard cell, test_reorder, that stays out of the product; so do its fuzz
 * targets, fuzz/fuzz.mk's FUZZ_TEST_SCENARIOS).
 *
 * Feedback ablations (the hard cells, and with --ablation-cells others):
 * greybox, libFuzzer and AFL++ with their interleaving feedback switched
 * (RR_GREYBOX_FEEDBACK=0, RR_FUZZ_FEEDBACK=0 or 1), each against its default
 * with the log-rank test. Fixed variants (--fixed-iterations N): one run of
 * N iterations or executions per cell and contender on the `fixed` variant,
 * which must find nothing.
 *
 * Statistics, for right-censored data:
 *  - the Kaplan-Meier estimate of the survival curve S(t) = P(no failure in
 *    the first t iterations), and its median: the smallest t with S(t) <= 0.5
 *    ("> cap" when the curve stays above one half);
 *  - the log-rank test between the contender with the smallest median (ties:
 *    the larger hit count) and pct: chi-square with one degree of freedom,
 *    p = erfc(sqrt(chi2 / 2));
 *  - the fraction of failing iterations per contender: one run of RATE_IT
 *    iterations without stopping, its hit rate.
 * The trials are sequential: two at once would measure each other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "fileio.h"
#include "rr_internal.h"

#define MAX_TRIALS 200

enum kind { STRATEGY, LIBFUZZER, AFL };

/* FEEDBACK: the feedback switch's value in the contender's environment
 * (RR_GREYBOX_FEEDBACK for greybox, RR_FUZZ_FEEDBACK for the fuzz targets),
 * NULL: the default. ABLATION: a contender of the feedback table only,
 * compared with contender BASE. */
struct contender {
	const char *name;
	enum kind kind;
	const char *feedback;
	int ablation, base;
	const char *greybox_base; /* RR_GREYBOX_BASE, or NULL */
};

/* AFL++ runs with the reads-from bits, like libFuzzer. They used to be off
 * by default: every execution that set new ones became a queue entry that
 * afl-fuzz ran three more times. The target now answers those repeats
 * without running the scenario (fuzz/libfuzzer.c), and with them answered
 * the bits cost nothing measurable (fuzz/README.md). */
#define AFL_DEFAULT_FEEDBACK "1"
static const struct contender contenders[] = {
	{"random", STRATEGY, NULL, 0, 0, NULL},
	{"pct", STRATEGY, NULL, 0, 0, NULL},
	{"surw", STRATEGY, NULL, 0, 0, NULL},
	{"pos", STRATEGY, NULL, 0, 0, NULL},
	{"portfolio", STRATEGY, NULL, 0, 0, NULL},
	{"greybox", STRATEGY, NULL, 0, 0, NULL},
	{"libfuzzer", LIBFUZZER, NULL, 0, 0, NULL},
	{"aflpp", AFL, AFL_DEFAULT_FEEDBACK, 0, 0, NULL},
	{"greybox feedback off", STRATEGY, "0", 1, 5, NULL},
	{"libfuzzer feedback off", LIBFUZZER, "0", 1, 6, NULL},
	{"aflpp feedback off", AFL, "0", 1, 7, NULL},
	/* Where the base sampler alone is weak (random finds nothing in 3,000
	 * iterations on the hard cell at N = 12), what greybox's feedback
	 * steers: its holds, on the events behind rare bits, or blind. */
	{"greybox random base", STRATEGY, NULL, 1, 5, "random"},
	{"greybox random base feedback off", STRATEGY, "0", 1, 11, "random"},
};
#define NCONT ((int)(sizeof contenders / sizeof contenders[0]))
#define PCT 1
#define RANDOM 0

struct cell {
	const char *name;     /* as printed */
	const char *scenario;
	const char *params[3]; /* NAME=VALUE, NULL-terminated */
	int trivial;           /* fails on almost any schedule (issue 11's list) */
	int ablation;          /* the feedback ablation runs here by default */
};

static const struct cell cells[] = {
	{"broken_pipe", "broken_pipe", {NULL}, 0, 0},
	{"dtls_timer_rx", "dtls_timer_rx", {NULL}, 0, 0},
	{"cancel_uaf", "cancel_uaf", {NULL}, 1, 0},
	{"ftok_collision", "ftok_collision", {NULL}, 1, 0},
	{"last_wqe_uaf", "last_wqe_uaf", {NULL}, 1, 0},
	{"broken_pipe cleanup_fns=8", "broken_pipe", {"cleanup_fns=8", NULL}, 0, 0},
	{"hard N=2", "test_reorder", {"setters=2", NULL}, 0, 1},
	{"hard N=6", "test_reorder", {"setters=6", NULL}, 0, 1},
	{"hard N=12", "test_reorder", {"setters=12", NULL}, 0, 1},
};
#define NCELLS ((int)(sizeof cells / sizeof cells[0]))

struct series {
	int n, hits;
	double t[MAX_TRIALS]; /* iterations to the first failure, or censored at */
	int event[MAX_TRIALS]; /* 1: a failure at t; 0: censored at t */
	double km_median;      /* INFINITY: the curve stays above 1/2 */
	double rate;           /* failing iterations / iterations; NAN: not measured */
	uint64_t rate_it;
	int errors;            /* trials whose run did not give a summary */
};

/* ---- statistics ----------------------------------------------------------- */

static int cmp_trial(const void *a, const void *b)
{
	const double *x = a, *y = b;
	return *x < *y ? -1 : *x > *y;
}

/* Kaplan-Meier median of S's trials: at each distinct failure time t,
 * S *= 1 - d/n (d failures at t, n trials still at risk: t_i >= t, censored
 * ones included while their t_i >= t). */
static double km_median(const struct series *s)
{
	double pairs[MAX_TRIALS][2];
	for (int i = 0; i < s->n; i++) {
		pairs[i][0] = s->t[i];
		pairs[i][1] = s->event[i];
	}
	qsort(pairs, (size_t)s->n, sizeof pairs[0], cmp_trial);
	double surv = 1;
	int at_risk = s->n;
	for (int i = 0; i < s->n;) {
		double t = pairs[i][0];
		int d = 0, c = 0;
		while (i < s->n && pairs[i][0] == t) {
			if (pairs[i][1] > 0)
				d++;
			else
				c++;
			i++;
		}
		if (d) {
			surv *= 1.0 - (double)d / at_risk;
			if (surv <= 0.5)
				return t;
		}
		at_risk -= d + c;
	}
	return INFINITY;
}

/* Two-sample log-rank test; returns the p-value (1 when nothing differs). */
static double logrank_p(const struct series *a, const struct series *b, double *chi2_out)
{
	double times[2 * MAX_TRIALS];
	int nt = 0;
	for (int i = 0; i < a->n; i++)
		if (a->event[i])
			times[nt++] = a->t[i];
	for (int i = 0; i < b->n; i++)
		if (b->event[i])
			times[nt++] = b->t[i];
	qsort(times, (size_t)nt, sizeof times[0], cmp_trial);
	double o_minus_e = 0, var = 0;
	for (int k = 0; k < nt; k++) {
		if (k && times[k] == times[k - 1])
			continue;
		double t = times[k];
		int n1 = 0, n2 = 0, d1 = 0, d2 = 0;
		for (int i = 0; i < a->n; i++) {
			n1 += a->t[i] >= t;
			d1 += a->event[i] && a->t[i] == t;
		}
		for (int i = 0; i < b->n; i++) {
			n2 += b->t[i] >= t;
			d2 += b->event[i] && b->t[i] == t;
		}
		double n = n1 + n2, d = d1 + d2;
		if (n < 2)
			continue;
		o_minus_e += d1 - d * n1 / n;
		var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1);
	}
	double chi2 = var > 0 ? o_minus_e * o_minus_e / var : 0;
	if (chi2_out)
		*chi2_out = chi2;
	return var > 0 ? erfc(sqrt(chi2 / 2)) : 1;
}

/* ---- running one trial ------------------------------------------------------ */

/* Runs BIN run ... and reads its summary: iterations, first failure
 * iteration (0: none) and hit rate. Returns 0, or -1 when the run gave no
 * summary. */
static int run_one(const char *bin, const char *tmp, const struct cell *c,
		   const struct contender *k, const char *variant, uint64_t seed, uint64_t iterations,
		   uint64_t seconds, int stop, uint64_t *its, uint64_t *first, double *rate)
{
	const char *strategy = k->name[0] == 'g' ? "greybox" : k->name, *feedback = k->feedback;
	char seedbuf[32], itbuf[32], durbuf[32], out[4200];
	snprintf(seedbuf, sizeof seedbuf, "%llu", (unsigned long long)seed);
	snprintf(itbuf, sizeof itbuf, "%llu", (unsigned long long)iterations);
	snprintf(out, sizeof out, "%s/run", tmp);
	rr__remove_tree(out);
	char *argv[32];
	int a = 0;
	argv[a++] = (char *)bin;
	argv[a++] = "run";
	argv[a++] = (char *)c->scenario;
	argv[a++] = "--strategy";
	argv[a++] = (char *)strategy;
	argv[a++] = "--seed";
	argv[a++] = seedbuf;
	argv[a++] = "--iterations";
	argv[a++] = itbuf;
	argv[a++] = "--variant";
	argv[a++] = (char *)variant;
	argv[a++] = "--quiet";
	argv[a++] = "--out";
	argv[a++] = out;
	if (stop)
		argv[a++] = "--stop-on-failure";
	if (seconds) {
		snprintf(durbuf, sizeof durbuf, "%llus", (unsigned long long)seconds);
		argv[a++] = "--duration";
		argv[a++] = durbuf;
	}
	for (int i = 0; c->params[i]; i++) {
		argv[a++] = "--param";
		argv[a++] = (char *)c->params[i];
	}
	argv[a] = NULL;
	long rss_kb;
	/* The greybox switch reaches the workers through the environment;
	 * this process is single-threaded, so setting it around the run is
	 * safe. */
	if (feedback ? setenv("RR_GREYBOX_FEEDBACK", feedback, 1) : unsetenv("RR_GREYBOX_FEEDBACK"))
		return -1;
	if (k->greybox_base && setenv("RR_GREYBOX_BASE", k->greybox_base, 1))
		return -1;
	int rc = rr__bench_run_measured(argv, NULL, NULL, &rss_kb);
	if (k->greybox_base && unsetenv("RR_GREYBOX_BASE"))
		return -1;
	if (unsetenv("RR_GREYBOX_FEEDBACK") || rc < 0)
		return -1;
	char path[4300];
	snprintf(path, sizeof path, "%s/summary.json", out);
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);
	if (!j)
		return -1;
	json_t *cell = json_array_get(json_object_get(j, "cells"), 0);
	json_t *ff = json_object_get(cell, "first_failure");
	*its = (uint64_t)json_integer_value(json_object_get(cell, "iterations"));
	*first = json_is_object(ff) ? (uint64_t)json_integer_value(json_object_get(ff, "iteration"))
				    : 0;
	*rate = json_number_value(json_object_get(cell, "hit_rate"));
	json_decref(j);
	rr__remove_tree(out);
	return 0;
}

/* The fuzz targets' environment in the child: variant, parameters, scratch
 * folder and feedback switch. Returns 0, or -1. */
static int fuzz_env(const struct cell *c, const char *variant, const char *feedback,
		    const char *dir)
{
	char params[512] = "";
	for (int i = 0; c->params[i]; i++)
		snprintf(params + strlen(params), sizeof params - strlen(params), "%s%s",
			 i ? " " : "", c->params[i]);
	if (setenv("RR_FUZZ_VARIANT", variant, 1) || setenv("RR_FUZZ_PARAMS", params, 1) ||
	    setenv("RR_SCRATCH_BASE", dir, 1))
		return -1;
	return feedback ? setenv("RR_FUZZ_FEEDBACK", feedback, 1) : unsetenv("RR_FUZZ_FEEDBACK");
}

/* Runs ARGV with stdin on /dev/null and stdout and stderr into LOG, in the
 * fuzz environment above plus ENV (NAME=VALUE strings, NULL-terminated);
 * execvp, so that afl-fuzz is found on PATH. Returns 0 once it has ended,
 * or -1. */
static int run_fuzzer(char *const argv[], const char *log, const struct cell *c,
		      const char *variant, const char *feedback, const char *dir,
		      char *const env[])
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		/* afl-fuzz reports on stdout, libFuzzer on stderr: both to LOG. */
		if (nul < 0 || lf < 0 || dup2(nul, 0) < 0 || dup2(lf, 1) < 0 || dup2(lf, 2) < 0)
			_exit(127);
		if (fuzz_env(c, variant, feedback, dir))
			_exit(127);
		for (int i = 0; env && env[i]; i++)
			if (putenv(env[i]))
				_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* A fresh trial folder TMP/fuzz with an empty corpus folder (libFuzzer) or
 * an input folder holding one zero byte (AFL++ needs one seed; as a
 * schedule it is the empty one). */
static int trial_dir(const char *tmp, char *dir, size_t cap, int afl)
{
	snprintf(dir, cap, "%s/fuzz", tmp);
	rr__remove_tree(dir);
	char sub[4300];
	snprintf(sub, sizeof sub, "%s/%s", dir, afl ? "in" : "corpus");
	if (mkdir(dir, 0700) < 0 || mkdir(sub, 0700) < 0)
		return -1;
	if (!afl)
		return 0;
	char seed[4400];
	snprintf(seed, sizeof seed, "%s/zero", sub);
	int fd = open(seed, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, "", 1);
	return close(fd) == 0 && w == 1 ? 0 : -1;
}

/* Whether the file PATH has a line containing TEXT. */
static int file_has(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[1024];
	int found = 0;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/* One libFuzzer trial: FUZZ_DIR/SCENARIO from an empty corpus with -seed=
 * SEED and at most CAP executions, in TMP. *EXECS: the executions it made
 * (libFuzzer's final stats, printed at a crash too); *HIT: it crashed.
 * Returns 0, or -1 when it did not run. */
static int run_libfuzzer(const char *fuzz_dir, const char *tmp, const struct cell *c,
			 const char *variant, const char *feedback, uint64_t seed, uint64_t cap,
			 uint64_t *execs, int *hit)
{
	char target[4200], dir[4200], corpus[4300], log[4300], sarg[48], rarg[48], artarg[4400];
	snprintf(target, sizeof target, "%s/%s", fuzz_dir, c->scenario);
	if (trial_dir(tmp, dir, sizeof dir, 0) < 0)
		return -1;
	snprintf(corpus, sizeof corpus, "%s/corpus", dir);
	snprintf(log, sizeof log, "%s/log", dir);
	snprintf(sarg, sizeof sarg, "-seed=%llu", (unsigned long long)seed + 1);
	snprintf(rarg, sizeof rarg, "-runs=%llu", (unsigned long long)cap);
	snprintf(artarg, sizeof artarg, "-artifact_prefix=%s/", dir);
	char *argv[] = {target, sarg, rarg, "-timeout=60", "-print_final_stats=1", artarg, corpus,
			NULL};
	if (run_fuzzer(argv, log, c, variant, feedback, dir, NULL) < 0)
		return -1;
	FILE *f = fopen(log, "r");
	if (!f)
		return -1;
	char line[1024];
	int found = 0;
	*hit = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long long n;
		if (sscanf(line, "stat::number_of_executed_units: %llu", &n) == 1) {
			*execs = n;
			found = 1;
		}
		if (strstr(line, "Test unit written to"))
			*hit = 1;
	}
	fclose(f);
	rr__remove_tree(dir);
	return found ? 0 : -1;
}

/* The scenario runs among afl-fuzz's first N executions, from the target's
 * run log (RR_FUZZ_RUN_LOG, fuzz/libfuzzer.c): one byte per input afl-fuzz
 * sent, 'r' when the scenario ran, 'c' when the target answered a
 * calibration repeat from its last run. N = 0: the whole log. When the N-th
 * execution is a crash it must be a run ('r'); -1: the log does not fit
 * afl-fuzz's count. */
static int64_t afl_runs(const char *log, uint64_t n)
{
	FILE *f = fopen(log, "rb");
	if (!f)
		return -1;
	int64_t runs = 0;
	uint64_t i = 0;
	int ch, last = 0;
	while ((!n || i < n) && (ch = getc(f)) != EOF) {
		runs += ch == 'r';
		last = ch;
		i++;
	}
	fclose(f);
	if (n && (i < n || last != 'r'))
		return -1;
	return runs;
}

/* The executions of AFL++'s first crash, from the crash files' names
 * (",execs:N,"); 0 when there is none. N counts the crashing execution
 * itself: afl-fuzz counts a run when it ends, before it saves the input
 * (checked: a trial whose first execution crashed left "execs:1" and
 * execs_done 1; with AFL_NO_STARTUP_CALIBRATION the seed is not run at
 * start). The bench used to add one, so the AFL++ counts of the reports
 * written before this comment are one high. */
static uint64_t afl_first_crash(const char *crashes)
{
	DIR *d = opendir(crashes);
	if (!d)
		return 0;
	uint64_t best = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *x = strstr(e->d_name, ",execs:");
		unsigned long long n;
		if (strncmp(e->d_name, "id:", 3) || !x || sscanf(x, ",execs:%llu", &n) != 1)
			continue;
		if (n == 0)
			n = 1; /* not seen; a crash is at least one execution */
		if (!best || n < best)
			best = n;
	}
	closedir(d);
	return best;
}

/* One AFL++ trial: AFL_DIR/SCENARIO under afl-fuzz with the schedule
 * mutator alone (AFL_DIR/libschedule-mutator.so, no trimming), -s SEED+1,
 * at most CAP executions (-E), stopping at the first crash; the seed is one
 * zero byte. *EXECS: afl-fuzz's count, the first crash's executions (from
 * its file name) or the executions done (fuzzer_stats); *RUNS: the scenario
 * runs among them (the rest are calibration repeats the target answered
 * without running, fuzz/libfuzzer.c); *HIT: it crashed. afl-fuzz refuses to
 * start when its only seed crashes: then the first execution found it. */
static int run_afl(const char *afl_dir, const char *tmp, const struct cell *c,
		   const char *variant, const char *feedback, uint64_t seed, uint64_t cap,
		   uint64_t *execs, uint64_t *runs, int *hit)
{
	char target[4200], dir[4200], in[4300], out[4300], log[4300], sarg[32], earg[32];
	char mut[4300], runs_path[4300], runlog[4400];
	snprintf(target, sizeof target, "%s/%s", afl_dir, c->scenario);
	snprintf(mut, sizeof mut, "AFL_CUSTOM_MUTATOR_LIBRARY=%s/libschedule-mutator.so", afl_dir);
	if (trial_dir(tmp, dir, sizeof dir, 1) < 0)
		return -1;
	snprintf(in, sizeof in, "%s/in", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	snprintf(log, sizeof log, "%s/log", dir);
	snprintf(runs_path, sizeof runs_path, "%s/runs", dir);
	snprintf(runlog, sizeof runlog, "RR_FUZZ_RUN_LOG=%s", runs_path);
	snprintf(sarg, sizeof sarg, "%llu", (unsigned long long)seed + 1);
	snprintf(earg, sizeof earg, "%llu", (unsigned long long)cap);
	/* -V: a wall-clock bound, in case a target stops making progress.
	 * -t 60000 like libFuzzer's -timeout=60: under AFL++ the scenario's
	 * setup runs at the first input (libfuzzer.c), and ftok_collision's
	 * makes 65,537 files, over 10 s on a loaded machine. */
	char *argv[] = {"afl-fuzz", "-i", in, "-o", out, "-s", sarg, "-E", earg, "-V", "1800",
			"-t", "60000", "-m", "none", "--", target, NULL};
	char *env[] = {"AFL_SKIP_CPUFREQ=1", "AFL_NO_UI=1", "AFL_NO_AFFINITY=1",
		       "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1", "AFL_BENCH_UNTIL_CRASH=1",
		       "AFL_CUSTOM_MUTATOR_ONLY=1", "AFL_DISABLE_TRIM=1", "AFL_FAST_CAL=1",
		       "AFL_NO_STARTUP_CALIBRATION=1",
		       mut, runlog, NULL};
	if (run_fuzzer(argv, log, c, variant, feedback, dir, env) < 0)
		return -1;
	char path[4400];
	snprintf(path, sizeof path, "%s/default/crashes", out);
	uint64_t first = afl_first_crash(path);
	*hit = first != 0;
	*execs = first;
	int rc = 0;
	if (!first) {
		char text[8192];
		snprintf(path, sizeof path, "%s/default/fuzzer_stats", out);
		const char *x = rr__read_small(path, text, sizeof text) > 0 ? strstr(text, "execs_done")
									  : NULL;
		unsigned long long n;
		if (x && sscanf(x, "execs_done : %llu", &n) == 1) {
			*execs = n;
		} else if (file_has(log, "seed that does not crash")) {
			*hit = 1;
			*execs = 1;
		} else {
			rc = -1;
		}
	}
	if (rc == 0 && *execs > 1) {
		int64_t r = afl_runs(runs_path, *hit ? *execs : 0);
		if (r < 0) {
			fprintf(stderr, "racerepro-bench: %s: the target's run log does not fit "
				"afl-fuzz's %llu executions\n", c->name, (unsigned long long)*execs);
			rc = -1;
		} else {
			*runs = (uint64_t)r;
		}
	} else {
		*runs = *execs;
	}
	rr__remove_tree(dir);
	return rc;
}

/* ---- the report ---------------------------------------------------------------- */

static void fmt_median(char *buf, size_t cap, double m, uint64_t capit)
{
	if (isinf(m))
		snprintf(buf, cap, "> %llu", (unsigned long long)capit);
	else
		snprintf(buf, cap, "%.0f", m);
}

static double loadavg(void)
{
	double l = NAN;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = NAN;
		fclose(f);
	}
	return l;
}

static int usage(const char *what)
{
	fprintf(stderr,
		"racerepro-bench --search: %s\n"
		"usage: racerepro-bench --search --bin BUILD/asan/racerepro-test [--trials N] "
		"[--cap N] [--rate-iterations N] [--rate-seconds N] [--fixed-iterations N] [--cells a,b] "
		"[--ablation-cells a,b|none] [--contenders NAME,NAME] [--fuzz-dir BUILD/fuzz/libfuzzer] "
		"[--afl-dir BUILD/fuzz/afl] [--out DIR]\n",
		what);
	return 2;
}

/* Whether NAME is in the comma-separated LIST (NULL: every name is). */
static int name_listed(const char *list, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n == len && !strncmp(p, name, n))
			return 1;
		p += n + (p[n] == ',');
	}
	return !list;
}

static int cell_selected(const char *list, int i)
{
	char want[16];
	snprintf(want, sizeof want, "%d", i);
	return name_listed(list, want);
}

static int kind_available(const struct contender *k, const struct cell *c, const char *fuzz_dir,
			  const char *afl_dir)
{
	const char *dir = k->kind == LIBFUZZER ? fuzz_dir : k->kind == AFL ? afl_dir : NULL;
	if (k->kind == STRATEGY)
		return 1;
	if (!dir)
		return 0;
	char target[4200];
	snprintf(target, sizeof target, "%s/%s", dir, c->scenario);
	return access(target, X_OK) == 0;
}

/* One trial or check of contender K in cell C: *T iterations or scenario
 * runs to the first failure, or the ones run when *HIT is 0; *T_ENGINE the
 * same by the engine's own count (AFL++: with its calibration repeats). */
static int run_contender(const struct contender *k, const char *bin, const char *fuzz_dir,
			 const char *afl_dir, const char *tmp, const struct cell *c,
			 const char *variant, uint64_t seed, uint64_t cap, double *t,
			 double *t_engine, int *hit)
{
	uint64_t n = 0, runs = 0;
	if (k->kind == LIBFUZZER || k->kind == AFL) {
		int rc = k->kind == LIBFUZZER
				 ? run_libfuzzer(fuzz_dir, tmp, c, variant, k->feedback, seed, cap, &n, hit)
				 : run_afl(afl_dir, tmp, c, variant, k->feedback, seed, cap, &n, &runs,
					   hit);
		*t_engine = (double)n;
		*t = k->kind == AFL ? (double)runs : (double)n;
		return rc;
	}
	uint64_t first;
	double rate;
	if (run_one(bin, tmp, c, k, variant, seed, cap, 0, 1, &n, &first, &rate) < 0)
		return -1;
	*hit = first != 0;
	*t = first ? (double)first : (double)n;
	*t_engine = *t;
	return 0;
}

struct result {
	struct series x;
	struct series engine; /* by the engine's own count (AFL++'s differs) */
	int ran;
	int fixed_hits;     /* -1: not checked */
	double fixed_units; /* iterations or executions the fixed check ran */
};

/* The contender with the smallest median among the columns of the main
 * table (ties: more failed trials); STRATEGIES_ONLY: among the strategies. */
static int best_of(const struct result *r, int strategies_only)
{
	int best = -1;
	for (int k = 0; k < NCONT; k++) {
		const struct series *x = &r[k].x;
		if (contenders[k].ablation || !r[k].ran || !x->n ||
		    (strategies_only && contenders[k].kind != STRATEGY))
			continue;
		if (best < 0 || x->km_median < r[best].x.km_median ||
		    (x->km_median == r[best].x.km_median && x->hits > r[best].x.hits))
			best = k;
	}
	return best;
}

static void print_p(FILE *f, const struct result *a, const struct result *b)
{
	if (!a->ran || !b->ran || !a->x.n || !b->x.n)
		fprintf(f, " - |");
	else
		fprintf(f, " %.3g |", logrank_p(&a->x, &b->x, NULL));
}

static void print_median(FILE *f, const struct result *r, uint64_t cap)
{
	char m[32];
	if (!r->ran || !r->x.n) {
		fprintf(f, " - |");
		return;
	}
	fmt_median(m, sizeof m, r->x.km_median, cap);
	if (isnan(r->x.rate))
		fprintf(f, " %s (%d/%d) |", m, r->x.hits, r->x.n);
	else
		fprintf(f, " %s (%d/%d; %.1f%% of %llu) |", m, r->x.hits, r->x.n, 100 * r->x.rate,
			(unsigned long long)r->x.rate_it);
}

/* The targets for a fuzzer's median M in a cell: at most half of
 * both pct's and random's, and at most twice the best strategy's. */
static int at_most_half(double m, const struct result *r)
{
	return !isinf(m) && m <= r[PCT].x.km_median / 2 && m <= r[RANDOM].x.km_median / 2;
}

int rr__bench_search(int argc, char **argv)
{
	const char *bin = NULL, *outdir = "reports", *only = NULL, *fuzz_dir = NULL,
		   *afl_dir = NULL, *ablation = NULL, *only_cont = NULL;
	int ntrials = 20;
	/* The failing fraction's run ends at RATE_IT iterations or RATE_SECS
	 * seconds, whichever comes first: a failing iteration of cancel_uaf or
	 * ftok_collision costs a new worker (ftok_collision's setup makes 65,537
	 * key files), so 500 of them took most of an hour; the table says how
	 * many iterations each fraction is of. */
	uint64_t cap = 2000, rate_it = 500, rate_secs = 60, fixed_it = 0;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--bin") && v) {
			bin = v;
			i++;
		} else if (!strcmp(argv[i], "--out") && v) {
			outdir = v;
			i++;
		} else if (!strcmp(argv[i], "--fuzz-dir") && v) {
			fuzz_dir = v;
			i++;
		} else if (!strcmp(argv[i], "--afl-dir") && v) {
			afl_dir = v;
			i++;
		} else if (!strcmp(argv[i], "--cells") && v) {
			only = v;
			i++;
		} else if (!strcmp(argv[i], "--contenders") && v) {
			only_cont = v;
			i++;
		} else if (!strcmp(argv[i], "--ablation-cells") && v) {
			ablation = v;
			i++;
		} else if (!strcmp(argv[i], "--trials") && v) {
			ntrials = atoi(v);
			if (ntrials < 1 || ntrials > MAX_TRIALS)
				return usage("--trials must be 1..200");
			i++;
		} else if (!strcmp(argv[i], "--cap") && v) {
			if (rr__parse_u64(v, &cap) || !cap)
				return usage("--cap must be a positive number");
			i++;
		} else if (!strcmp(argv[i], "--rate-iterations") && v) {
			if (rr__parse_u64(v, &rate_it))
				return usage("--rate-iterations must be a number (0: skip)");
			i++;
		} else if (!strcmp(argv[i], "--rate-seconds") && v) {
			if (rr__parse_u64(v, &rate_secs))
				return usage("--rate-seconds must be a number (0: no time bound)");
			i++;
		} else if (!strcmp(argv[i], "--fixed-iterations") && v) {
			if (rr__parse_u64(v, &fixed_it))
				return usage("--fixed-iterations must be a number (0: skip)");
			i++;
		} else {
			return usage("unknown option (see the usage line)");
		}
	}
	if (!bin || access(bin, X_OK) != 0)
		return usage("--bin must name an executable racerepro-test");
	if (afl_dir) {
		char lib[4200];
		snprintf(lib, sizeof lib, "%s/libschedule-mutator.so", afl_dir);
		if (access(lib, R_OK) != 0)
			return usage("--afl-dir must hold libschedule-mutator.so (make fuzz-afl)");
	}
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s/bench-search-tmp-%d", outdir, (int)getpid());
	if (mkdir(outdir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "racerepro-bench: mkdir %s: %s\n", outdir, strerror(errno));
		return 3;
	}
	if (mkdir(tmp, 0700) < 0) {
		fprintf(stderr, "racerepro-bench: mkdir %s: %s\n", tmp, strerror(errno));
		return 3;
	}
	static struct result res[NCELLS][NCONT];
	double load_start = loadavg();
	time_t t0 = time(NULL);
	for (int ci = 0; ci < NCELLS; ci++) {
		if (!cell_selected(only, ci))
			continue;
		const struct cell *c = &cells[ci];
		int abl = ablation ? strcmp(ablation, "none") && cell_selected(ablation, ci)
				   : c->ablation;
		for (int k = 0; k < NCONT; k++) {
			const struct contender *ck = &contenders[k];
			struct result *r = &res[ci][k];
			memset(r, 0, sizeof *r);
			r->x.rate = NAN;
			r->fixed_hits = -1;
			if ((ck->ablation && !abl) || !kind_available(ck, c, fuzz_dir, afl_dir) ||
			    !name_listed(only_cont, ck->name))
				continue;
			r->ran = 1;
			struct series *x = &r->x;
			for (int tr = 0; tr < ntrials; tr++) {
				double t, te;
				int hit = 0;
				if (run_contender(ck, bin, fuzz_dir, afl_dir, tmp, c, "buggy", (uint64_t)tr,
						  cap, &t, &te, &hit) < 0) {
					x->errors++;
					continue;
				}
				x->t[x->n] = t;
				x->event[x->n] = hit;
				x->hits += hit;
				x->n++;
				r->engine.t[r->engine.n] = te;
				r->engine.event[r->engine.n++] = hit;
			}
			x->km_median = km_median(x);
			r->engine.km_median = km_median(&r->engine);
			if (rate_it && ck->kind == STRATEGY) {
				uint64_t its, first;
				double rate;
				if (run_one(bin, tmp, c, ck, "buggy", 1000003, rate_it, rate_secs, 0, &its,
					    &first, &rate) == 0) {
					x->rate = rate;
					x->rate_it = its;
				}
			}
			if (fixed_it) {
				double t, te;
				int hit = 0;
				if (run_contender(ck, bin, fuzz_dir, afl_dir, tmp, c, "fixed", 1,
						  fixed_it, &t, &te, &hit) == 0) {
					r->fixed_hits = hit;
					r->fixed_units = t;
				}
			}
			char m[32];
			fmt_median(m, sizeof m, x->km_median, cap);
			fprintf(stderr,
				"bench --search: %-26s %-22s %2d/%d failed (%d errors), KM median %s, "
				"failing %.2f%%, fixed %s\n",
				c->name, ck->name, x->hits, x->n, x->errors, m, 100 * x->rate,
				r->fixed_hits < 0 ? "-" : r->fixed_hits ? "FOUND" : "clean");
		}
	}
	rr__remove_tree(tmp);
	double load_end = loadavg();
	/* the report */
	char path[4200];
	snprintf(path, sizeof path, "%s/bench-search.md", outdir);
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "racerepro-bench: %s: %s\n", path, strerror(errno));
		return 3;
	}
	fprintf(f, "# Search strategies and fuzzers: executions to the first failure\n\n");
	fprintf(f, "`racerepro-bench --search --bin %s --trials %d --cap %llu --rate-iterations %llu "
		   "--rate-seconds %llu --fixed-iterations %llu",
		bin, ntrials, (unsigned long long)cap, (unsigned long long)rate_it,
		(unsigned long long)rate_secs, (unsigned long long)fixed_it);
	if (fuzz_dir)
		fprintf(f, " --fuzz-dir %s", fuzz_dir);
	if (afl_dir)
		fprintf(f, " --afl-dir %s", afl_dir);
	if (only)
		fprintf(f, " --cells %s", only);
	if (only_cont)
		fprintf(f, " --contenders '%s'", only_cont);
	if (ablation)
		fprintf(f, " --ablation-cells %s", ablation);
	fprintf(f,
		"`: %d trials per cell and contender. Strategies: trial k is `racerepro-test run "
		"SCENARIO --strategy S --seed k --iterations %llu --stop-on-failure`, all in the one "
		"binary. libfuzzer: the cell's libFuzzer target (clang, ASan, coverage on the "
		"scenario code only, abstract schedules, custom mutator, reads-from feedback) from an "
		"empty corpus with -seed=k+1 and -runs=%llu. aflpp: its AFL++ target (afl-clang-fast, "
		"ASan, the same coverage) under afl-fuzz with the schedule mutator alone "
		"(AFL_CUSTOM_MUTATOR_ONLY=1, AFL_DISABLE_TRIM=1, AFL_FAST_CAL=1, "
		"AFL_NO_STARTUP_CALIBRATION=1, RR_FUZZ_FEEDBACK=" AFL_DEFAULT_FEEDBACK
		"), -s k+1, -E %llu, one zero byte as its seed; its count is "
		"the scenario runs up to its first crash (the target's run log; afl-fuzz's own "
		"count, with its calibration repeats, is in its own section below). Kaplan-Meier "
		"medians of the iterations or "
		"executions to the first failure, trials without one censored at what they ran "
		"(\"> cap\": the estimate stays above one half). p: log-rank tests. Failing %%: one "
		"run per strategy (seed 1000003) of %llu iterations or %llu s, whichever ends first, "
		"of the iterations given after it. Load average %.2f at the start, "
		"%.2f at the end; %ld s in all.\n\n",
		ntrials, (unsigned long long)cap, (unsigned long long)cap, (unsigned long long)cap,
		(unsigned long long)rate_it, (unsigned long long)rate_secs, load_start, load_end,
		(long)(time(NULL) - t0));
	fprintf(f, "| cell |");
	for (int k = 0; k < NCONT; k++)
		if (!contenders[k].ablation)
			fprintf(f, " %s |", contenders[k].name);
	fprintf(f, " best | p (best vs pct) | p (libfuzzer vs pct) | p (aflpp vs pct) |\n|---|");
	for (int k = 0; k < NCONT; k++)
		if (!contenders[k].ablation)
			fprintf(f, "---:|");
	fprintf(f, "---|---:|---:|---:|\n");
	json_t *jcells = json_array();
	int lf = 6, afl = 7;
	/* The fuzzer targets: libFuzzer, AFL++ in scenario runs, AFL++ by
	 * afl-fuzz's count. */
	int nontrivial = 0, half[3] = {0, 0, 0}, over2x[3] = {0, 0, 0};
	char over2x_cells[3][512] = {"", "", ""};
	for (int ci = 0; ci < NCELLS; ci++) {
		if (!cell_selected(only, ci))
			continue;
		const struct result *r = res[ci];
		int best = best_of(r, 0), bstrat = best_of(r, 1);
		double chi2 = 0;
		double p = best <= PCT ? 1 : logrank_p(&r[best].x, &r[PCT].x, &chi2);
		fprintf(f, "| %s |", cells[ci].name);
		for (int k = 0; k < NCONT; k++)
			if (!contenders[k].ablation)
				print_median(f, &r[k], cap);
		fprintf(f, " %s | %.3g |", best >= 0 ? contenders[best].name : "-", p);
		print_p(f, &r[lf], &r[PCT]);
		print_p(f, &r[afl], &r[PCT]);
		fprintf(f, "\n");
		json_t *jc = json_object();
		json_object_set_new(jc, "cell", json_string(cells[ci].name));
		json_object_set_new(jc, "non_trivial", json_boolean(!cells[ci].trivial));
		json_t *jk = json_object();
		for (int k = 0; k < NCONT; k++) {
			const struct series *x = &r[k].x;
			if (!r[k].ran)
				continue;
			json_t *o = json_object();
			json_object_set_new(o, "km_median",
					    isinf(x->km_median) ? json_null()
								: json_real(x->km_median));
			json_object_set_new(o, "failed_trials", json_integer(x->hits));
			json_object_set_new(o, "trials", json_integer(x->n));
			json_object_set_new(o, "errors", json_integer(x->errors));
			json_object_set_new(o, "failing_fraction",
					    isnan(x->rate) ? json_null() : json_real(x->rate));
			json_object_set_new(o, "failing_fraction_iterations",
					    json_integer((json_int_t)x->rate_it));
			json_object_set_new(o, "fixed_findings", r[k].fixed_hits < 0
									 ? json_null()
									 : json_integer(r[k].fixed_hits));
			json_object_set_new(o, "fixed_units", json_real(r[k].fixed_units));
			if (contenders[k].ablation || contenders[k].kind != STRATEGY)
				json_object_set_new(o, "feedback",
						    contenders[k].feedback
							    ? json_string(contenders[k].feedback)
							    : json_string("1"));
			if (contenders[k].greybox_base)
				json_object_set_new(o, "greybox_base",
						    json_string(contenders[k].greybox_base));
			json_t *ts = json_array();
			for (int i = 0; i < x->n; i++)
				json_array_append_new(ts, json_pack("{s:f,s:b}", "t", x->t[i],
								    "failed", x->event[i]));
			json_object_set_new(o, "trials_detail", ts);
			if (contenders[k].kind == AFL) {
				const struct series *e = &r[k].engine;
				json_object_set_new(o, "afl_fuzz_execs_km_median",
						    isinf(e->km_median) ? json_null()
									: json_real(e->km_median));
				json_t *es = json_array();
				for (int i = 0; i < e->n; i++)
					json_array_append_new(es, json_real(e->t[i]));
				json_object_set_new(o, "afl_fuzz_execs", es);
			}
			json_object_set_new(jk, contenders[k].name, o);
		}
		json_object_set_new(jc, "contenders", jk);
		json_object_set_new(jc, "best", best >= 0 ? json_string(contenders[best].name)
							  : json_null());
		json_object_set_new(jc, "logrank_p_best_vs_pct", json_real(p));
		json_object_set_new(jc, "logrank_chi2", json_real(chi2));
		for (int j = 0; j < 3; j++) {
			const struct result *fz = &r[j ? afl : lf];
			const struct series *fx = j == 2 ? &fz->engine : &fz->x;
			if (!fz->ran || !fx->n)
				continue;
			static const char *const pkey[3] = {"logrank_p_libfuzzer_vs_pct",
							    "logrank_p_aflpp_vs_pct",
							    "logrank_p_aflpp_afl_fuzz_execs_vs_pct"};
			json_object_set_new(jc, pkey[j], json_real(logrank_p(fx, &r[PCT].x, NULL)));
			if (cells[ci].trivial || bstrat < 0)
				continue;
			half[j] += at_most_half(fx->km_median, r);
			if (isinf(fx->km_median) || fx->km_median > 2 * r[bstrat].x.km_median) {
				over2x[j]++;
				snprintf(over2x_cells[j] + strlen(over2x_cells[j]),
					 sizeof over2x_cells[j] - strlen(over2x_cells[j]), "%s%s",
					 *over2x_cells[j] ? ", " : "", cells[ci].name);
			}
		}
		nontrivial += !cells[ci].trivial;
		json_array_append_new(jcells, jc);
	}
	fprintf(f, "\nEach entry: KM median (failed trials/trials; failing iterations in the rate "
		   "run, strategies only); \"-\": not run (no target, or no --fuzz-dir/--afl-dir).\n");
	fprintf(f, "\n**Fuzzer targets** (issue 11), over the %d non-trivial cells measured "
		   "(cancel_uaf, ftok_collision and last_wqe_uaf fail on almost any schedule): a "
		   "median at most half of both pct's and random's in at least 4 cells, and never "
		   "more than twice the best strategy's.\n\n",
		nontrivial);
	static const char *const fuzzer_name[3] = {
		"libfuzzer", "aflpp (scenario runs)",
		"aflpp by afl-fuzz's own count (its calibration repeats included)"};
	for (int j = 0; j < 3; j++)
		fprintf(f, "- %s: at most half of pct and random in %d of %d; more than twice the "
			   "best strategy in %d%s%s%s.\n",
			fuzzer_name[j], half[j], nontrivial, over2x[j],
			over2x[j] ? " (" : "", over2x_cells[j], over2x[j] ? ")" : "");
	/* AFL++'s two counts, from the same trials */
	fprintf(f, "\n## AFL++: scenario runs and afl-fuzz's count\n\nafl-fuzz runs every new "
		   "queue entry three more times (calibration). The scheduler replays a schedule "
		   "exactly, so the target answers such a repeat of its last input from that run's "
		   "map without running the scenario (fuzz/libfuzzer.c); the aflpp column counts the "
		   "scenario runs (the target's run log), as libFuzzer's counts its runs. afl-fuzz "
		   "counts the repeats as executions too: same trials, both counts, KM medians; p: "
		   "log-rank against pct.\n\n| cell | aflpp scenario runs | afl-fuzz executions | "
		   "p (afl-fuzz executions vs pct) |\n|---|---:|---:|---:|\n");
	for (int ci = 0; ci < NCELLS; ci++) {
		const struct result *a = &res[ci][afl];
		if (!cell_selected(only, ci) || !a->ran || !a->x.n)
			continue;
		char m1[32], m2[32];
		fmt_median(m1, sizeof m1, a->x.km_median, cap);
		fmt_median(m2, sizeof m2, a->engine.km_median, cap);
		fprintf(f, "| %s | %s (%d/%d) | %s | %.3g |\n", cells[ci].name, m1, a->x.hits, a->x.n,
			m2, logrank_p(&a->engine, &res[ci][PCT].x, NULL));
	}
	/* the feedback ablation */
	fprintf(f, "\n## Interleaving feedback on and off\n\nThe same contender with its feedback "
		   "switched (greybox: RR_GREYBOX_FEEDBACK=0 keeps every schedule it runs instead of "
		   "those that set new reads-from bits, holds a random event of each instead of the "
		   "one behind its rarest bit, and draws parents uniformly; the fuzz targets: "
		   "RR_FUZZ_FEEDBACK=0 or 1), same trials and seeds; p: log-rank test between the "
		   "two. \"greybox random base\": RR_GREYBOX_BASE=random, where the base sampler "
		   "alone is weak.\n\n"
		   "| cell | contender | default | switched | p |\n|---|---|---:|---:|---:|\n");
	for (int ci = 0; ci < NCELLS; ci++) {
		if (!cell_selected(only, ci))
			continue;
		for (int k = 0; k < NCONT; k++) {
			const struct result *a = &res[ci][k], *b = &res[ci][contenders[k].base];
			if (!contenders[k].ablation || !a->ran || !b->ran)
				continue;
			fprintf(f, "| %s | %s (vs %s) |", cells[ci].name, contenders[k].name,
				contenders[contenders[k].base].name);
			print_median(f, b, cap);
			print_median(f, a, cap);
			print_p(f, b, a);
			fprintf(f, "\n");
		}
	}
	if (fixed_it) {
		fprintf(f, "\n## Fixed variants\n\nOne run per cell and contender on the `fixed` "
			   "variant, %llu iterations or executions (seed 1): findings.\n\n| cell |",
			(unsigned long long)fixed_it);
		for (int k = 0; k < NCONT; k++)
			fprintf(f, " %s |", contenders[k].name);
		fprintf(f, "\n|---|");
		for (int k = 0; k < NCONT; k++)
			fprintf(f, "---:|");
		fprintf(f, "\n");
		for (int ci = 0; ci < NCELLS; ci++) {
			if (!cell_selected(only, ci))
				continue;
			fprintf(f, "| %s |", cells[ci].name);
			for (int k = 0; k < NCONT; k++) {
				const struct result *r = &res[ci][k];
				if (r->fixed_hits < 0)
					fprintf(f, " - |");
				else
					fprintf(f, " %s (%.0f) |", r->fixed_hits ? "**FOUND**" : "none",
						r->fixed_units);
			}
			fprintf(f, "\n");
		}
	}
	fclose(f);
	json_t *root = json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:f,s:f,s:o}", "bin", bin, "trials",
				 ntrials, "cap", (json_int_t)cap, "rate_iterations", (json_int_t)rate_it,
				 "rate_seconds", (json_int_t)rate_secs,
				 "fixed_iterations", (json_int_t)fixed_it, "load_start", load_start,
				 "load_end", load_end, "cells", jcells);
	snprintf(path, sizeof path, "%s/bench-search.json", outdir);
	int rc = json_dump_file(root, path, JSON_INDENT(1));
	json_decref(root);
	fprintf(stderr, "bench --search: wrote %s/bench-search.md and .json\n", outdir);
	return rc ? 3 : 0;
}
