/*
 * search.c: `racerepro-bench --search`, the measurement protocol of the
 * search strategies (issue 11), written to OUT/bench-search.{md,json}.
 *
 * Per cell (a scenario's buggy variant with its parameters) and contender
 * (random, pct, surw, pos, portfolio, greybox, and with --fuzz-dir the
 * scenario's libFuzzer target, counted in executions), TRIALS trials: trial k is
 * `BIN run SCENARIO --strategy S --seed k --iterations CAP --stop-on-failure`
 * in a subprocess, and its summary.json (read with jansson) gives the
 * iterations to the first failure, or a trial censored at the iterations it
 * ran. Every contender runs in the same binary (BIN: build/none/racerepro-test,
 * which also has the hard cell, test_reorder, that stays out of the product).
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
#define NCONT 7
#define LIBFUZZER (NCONT - 1) /* only with --fuzz-dir, on cells with a target */
static const char *const contenders[NCONT] = {"random", "pct",     "surw",     "pos",
					      "portfolio", "greybox", "libfuzzer"};

struct cell {
	const char *name;     /* as printed */
	const char *scenario;
	const char *params[3]; /* NAME=VALUE, NULL-terminated */
	int fuzz;             /* has a libFuzzer target (fuzz/fuzz.mk: the product's scenarios) */
};

static const struct cell cells[] = {
	{"broken_pipe", "broken_pipe", {NULL}, 1},
	{"dtls_timer_rx", "dtls_timer_rx", {NULL}, 1},
	{"cancel_uaf", "cancel_uaf", {NULL}, 1},
	{"ftok_collision", "ftok_collision", {NULL}, 1},
	{"last_wqe_uaf", "last_wqe_uaf", {NULL}, 1},
	{"broken_pipe cleanup_fns=8", "broken_pipe", {"cleanup_fns=8", NULL}, 1},
	{"hard N=2", "test_reorder", {"setters=2", NULL}, 0},
	{"hard N=6", "test_reorder", {"setters=6", NULL}, 0},
	{"hard N=12", "test_reorder", {"setters=12", NULL}, 0},
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
static int run_one(const char *bin, const char *tmp, const struct cell *c, const char *strategy,
		   uint64_t seed, uint64_t iterations, int stop, uint64_t *its, uint64_t *first,
		   double *rate)
{
	char seedbuf[32], itbuf[32], out[4200];
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
	argv[a++] = "--quiet";
	argv[a++] = "--out";
	argv[a++] = out;
	if (stop)
		argv[a++] = "--stop-on-failure";
	for (int i = 0; c->params[i]; i++) {
		argv[a++] = "--param";
		argv[a++] = (char *)c->params[i];
	}
	argv[a] = NULL;
	long rss_kb;
	if (rr__bench_run_measured(argv, NULL, NULL, &rss_kb) < 0)
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

/* One libFuzzer trial: FUZZ_DIR/SCENARIO from an empty corpus with -seed=
 * SEED and at most CAP executions, in TMP. *EXECS: the executions it made
 * (libFuzzer's final stats, printed at a crash too); *HIT: it crashed.
 * Returns 0, or -1 when it did not run. */
static int run_fuzz(const char *fuzz_dir, const char *tmp, const struct cell *c, uint64_t seed,
		    uint64_t cap, uint64_t *execs, int *hit)
{
	char target[4200], dir[4200], corpus[4300], art[4300], log[4300], sarg[48], rarg[48];
	snprintf(target, sizeof target, "%s/%s", fuzz_dir, c->scenario);
	snprintf(dir, sizeof dir, "%s/fuzz", tmp);
	rr__remove_tree(dir);
	snprintf(corpus, sizeof corpus, "%s/corpus", dir);
	snprintf(art, sizeof art, "%s/", dir);
	snprintf(log, sizeof log, "%s/log", dir);
	if (mkdir(dir, 0700) < 0 || mkdir(corpus, 0700) < 0)
		return -1;
	snprintf(sarg, sizeof sarg, "-seed=%llu", (unsigned long long)seed + 1);
	snprintf(rarg, sizeof rarg, "-runs=%llu", (unsigned long long)cap);
	char params[512] = "";
	for (int i = 0; c->params[i]; i++)
		snprintf(params + strlen(params), sizeof params - strlen(params), "%s%s",
			 i ? " " : "", c->params[i]);
	char *argv[] = {target,	      sarg, rarg, "-timeout=60", "-print_final_stats=1",
			"-artifact_prefix=", corpus, NULL};
	char artarg[4400];
	snprintf(artarg, sizeof artarg, "-artifact_prefix=%s", art);
	argv[5] = artarg;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);
		int lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (nul < 0 || lf < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(lf, 2) < 0)
			_exit(127);
		if (setenv("RR_FUZZ_VARIANT", "buggy", 1) || setenv("RR_FUZZ_PARAMS", params, 1) ||
		    setenv("RR_SCRATCH_BASE", dir, 1))
			_exit(127);
		execv(target, argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
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
		"usage: racerepro-bench --search --bin BUILD/none/racerepro-test [--trials N] "
		"[--cap N] [--rate-iterations N] [--cells a,b] [--fuzz-dir DIR] [--out DIR]\n",
		what);
	return 2;
}

static int cell_selected(const char *list, int i)
{
	if (!list)
		return 1;
	char want[16];
	snprintf(want, sizeof want, "%d", i);
	const char *p = list;
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == strlen(want) && !strncmp(p, want, n))
			return 1;
		p += n + (p[n] == ',');
	}
	return 0;
}

int rr__bench_search(int argc, char **argv)
{
	const char *bin = NULL, *outdir = "reports", *only = NULL, *fuzz_dir = NULL;
	int ntrials = 20;
	uint64_t cap = 2000, rate_it = 500;
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
		} else if (!strcmp(argv[i], "--cells") && v) {
			only = v;
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
		} else {
			return usage("unknown option (see the usage line)");
		}
	}
	if (!bin || access(bin, X_OK) != 0)
		return usage("--bin must name an executable racerepro-test");
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
	static struct series s[NCELLS][NCONT];
	double load_start = loadavg();
	time_t t0 = time(NULL);
	for (int ci = 0; ci < NCELLS; ci++) {
		if (!cell_selected(only, ci))
			continue;
		for (int k = 0; k < NCONT; k++) {
			struct series *x = &s[ci][k];
			memset(x, 0, sizeof *x);
			x->rate = NAN;
			if (k == LIBFUZZER) {
				if (!fuzz_dir || !cells[ci].fuzz)
					continue;
				for (int tr = 0; tr < ntrials; tr++) {
					uint64_t execs = 0;
					int hit = 0;
					if (run_fuzz(fuzz_dir, tmp, &cells[ci], (uint64_t)tr, cap, &execs,
						     &hit) < 0) {
						x->errors++;
						continue;
					}
					x->t[x->n] = (double)execs;
					x->event[x->n] = hit;
					x->hits += hit;
					x->n++;
				}
				x->km_median = km_median(x);
				char m[32];
				fmt_median(m, sizeof m, x->km_median, cap);
				fprintf(stderr, "bench --search: %-26s %-9s %2d/%d failed, KM median %s\n",
					cells[ci].name, contenders[k], x->hits, x->n, m);
				continue;
			}
			for (int tr = 0; tr < ntrials; tr++) {
				uint64_t its, first;
				double rate;
				if (run_one(bin, tmp, &cells[ci], contenders[k], (uint64_t)tr, cap, 1,
					    &its, &first, &rate) < 0) {
					x->errors++;
					continue;
				}
				x->t[x->n] = first ? (double)first : (double)its;
				x->event[x->n] = first != 0;
				x->hits += first != 0;
				x->n++;
			}
			x->km_median = km_median(x);
			if (rate_it) {
				uint64_t its, first;
				double rate;
				if (run_one(bin, tmp, &cells[ci], contenders[k], 1000003, rate_it, 0,
					    &its, &first, &rate) == 0) {
					x->rate = rate;
					x->rate_it = its;
				}
			}
			char m[32];
			fmt_median(m, sizeof m, x->km_median, cap);
			fprintf(stderr,
				"bench --search: %-26s %-9s %2d/%d failed, KM median %s, "
				"failing iterations %.2f%%\n",
				cells[ci].name, contenders[k], x->hits, x->n, m, 100 * x->rate);
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
	fprintf(f, "# Search strategies: iterations to the first failure\n\n");
	fprintf(f,
		"`racerepro-bench --search --bin %s --trials %d --cap %llu --rate-iterations "
		"%llu%s%s`: %d trials per cell and contender (trial k: run seed k), each "
		"`racerepro-test run SCENARIO --strategy S --seed k --iterations %llu "
		"--stop-on-failure`, all in the one binary. Kaplan-Meier medians of the "
		"iterations to the first failure, trials without one censored at the "
		"iterations they ran (\"> cap\": the estimate stays above one half). p: "
		"log-rank test of the contender with the smallest median against pct. "
		"Failing %%: one run of %llu iterations (seed 1000003) per contender. "
		"Load average %.2f at the start, %.2f at the end; %ld s in all.\n\n",
		bin, ntrials, (unsigned long long)cap, (unsigned long long)rate_it,
		fuzz_dir ? " --fuzz-dir " : "", fuzz_dir ? fuzz_dir : "", ntrials,
		(unsigned long long)cap, (unsigned long long)rate_it, load_start, load_end,
		(long)(time(NULL) - t0));
	fprintf(f, "| cell |");
	for (int k = 0; k < NCONT; k++)
		fprintf(f, " %s |", contenders[k]);
	fprintf(f, " best | p (best vs pct) |\n|---|");
	for (int k = 0; k < NCONT; k++)
		fprintf(f, "---:|");
	fprintf(f, "---|---:|\n");
	json_t *jcells = json_array();
	for (int ci = 0; ci < NCELLS; ci++) {
		if (!cell_selected(only, ci))
			continue;
		int best = 0;
		for (int k = 1; k < NCONT; k++) {
			const struct series *x = &s[ci][k], *y = &s[ci][best];
			if (!x->n)
				continue;
			if (x->km_median < y->km_median ||
			    (x->km_median == y->km_median && x->hits > y->hits))
				best = k;
		}
		double chi2 = 0;
		double p = best == 1 ? 1 : logrank_p(&s[ci][best], &s[ci][1], &chi2);
		fprintf(f, "| %s |", cells[ci].name);
		json_t *jc = json_object();
		json_object_set_new(jc, "cell", json_string(cells[ci].name));
		json_t *jk = json_object();
		for (int k = 0; k < NCONT; k++) {
			const struct series *x = &s[ci][k];
			char m[32];
			fmt_median(m, sizeof m, x->km_median, cap);
			if (!x->n)
				fprintf(f, " - |");
			else if (isnan(x->rate))
				fprintf(f, " %s (%d/%d) |", m, x->hits, x->n);
			else
				fprintf(f, " %s (%d/%d; %.1f%%) |", m, x->hits, x->n, 100 * x->rate);
			json_t *o = json_object();
			json_object_set_new(o, "km_median",
					    isinf(x->km_median) ? json_null()
								: json_real(x->km_median));
			json_object_set_new(o, "failed_trials", json_integer(x->hits));
			json_object_set_new(o, "trials", json_integer(x->n));
			json_object_set_new(o, "errors", json_integer(x->errors));
			json_object_set_new(o, "failing_fraction",
					    isnan(x->rate) ? json_null() : json_real(x->rate));
			json_t *ts = json_array();
			for (int i = 0; i < x->n; i++)
				json_array_append_new(ts, json_pack("{s:f,s:b}", "t", x->t[i],
								    "failed", x->event[i]));
			json_object_set_new(o, "trials_detail", ts);
			json_object_set_new(jk, contenders[k], o);
		}
		fprintf(f, " %s | %.3g |\n", contenders[best], p);
		json_object_set_new(jc, "contenders", jk);
		json_object_set_new(jc, "best", json_string(contenders[best]));
		json_object_set_new(jc, "logrank_p_best_vs_pct", json_real(p));
		json_object_set_new(jc, "logrank_chi2", json_real(chi2));
		json_array_append_new(jcells, jc);
	}
	fprintf(f, "\nEach entry: KM median iterations (failed trials/trials; failing "
		   "iterations in the rate run). libfuzzer (with --fuzz-dir): the scenario's "
		   "libFuzzer target (clang, ASan, abstract schedules, custom mutator, "
		   "reads-from feedback) from an empty corpus with -seed=k+1 and -runs=cap; its "
		   "entry counts executions; \"-\": no target (the hard cell is test-only) or "
		   "not measured.\n");
	fclose(f);
	json_t *root = json_pack("{s:s,s:i,s:I,s:I,s:f,s:f,s:o}", "bin", bin, "trials", ntrials,
				 "cap", (json_int_t)cap, "rate_iterations", (json_int_t)rate_it,
				 "load_start", load_start, "load_end", load_end, "cells", jcells);
	snprintf(path, sizeof path, "%s/bench-search.json", outdir);
	int rc = json_dump_file(root, path, JSON_INDENT(1));
	json_decref(root);
	fprintf(stderr, "bench --search: wrote %s/bench-search.md and .json\n", outdir);
	return rc ? 3 : 0;
}
