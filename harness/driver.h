/*
 * driver.h: running cells (one scenario, one variant) in worker processes,
 * and what a run produces.
 */
#ifndef RR_DRIVER_H
#define RR_DRIVER_H

#include <limits.h>
#include <stdio.h>

#include "rr_internal.h"

#define RR_MAX_SIGS 32
#define RR_MAX_CELLS 64

struct rr__signature {
	char sig[256];
	int klass;
	char message[RR_MSG];
	char role[24];
	char strategy[16];
	char dir[128]; /* failures/<slug>, relative to the run folder */
	uint64_t count;
	uint64_t first_iteration;
	double first_s;
};

struct rr__cell {
	const struct rr_scenario *scenario;
	const struct rr_variant *variant;
	int strategy;
	uint64_t seed;
	uint64_t counts[RR_NOUTCOMES];
	uint64_t iterations;
	uint64_t strat_iterations[RR_NSTRATEGIES];
	uint64_t strat_failures[RR_NSTRATEGIES];
	double elapsed_s;
	int has_failure;
	uint64_t first_failure_iteration;
	double first_failure_s;
	int nsigs;
	struct rr__signature sigs[RR_MAX_SIGS];
	int nnotes;
	char notes[RR_MAX_NOTES][2][128];
	/* Values set with --param, owned by the cell: the run configuration
	 * that named them is gone by the time the summary is written. */
	int nparams;
	char param_names[RR_MAX_PARAMS][64];
	char param_values[RR_MAX_PARAMS][512];
	int skipped;
	char skip_reason[256];
	int interrupted;
	const char *verdict; /* reproduced, missed, clean, failed, error, skipped */
	double hit_rate;     /* failures per iteration (buggy) */
	double fix_p;        /* fixed: the buggy variant's hit rate used */
	double fix_miss;     /* fixed: (1-p)^n */
};

struct rr__run {
	char dir[PATH_MAX];
	char run_id[96];
	char command[2048];
	char self_path[PATH_MAX]; /* how to invoke this binary in replay commands */
	uint64_t started_ns;
	double started_wall;
	int events_fd;
	int ncells;
	struct rr__cell cells[RR_MAX_CELLS];
	int write_failed;
	int interrupted;
};

/* What a single-iteration run reports back (replay, explain, minimize). */
struct rr__once {
	int outcome;
	char sig[256];
	char message[RR_MSG];
	struct rr__sched sched; /* the iteration's trace and decisions */
};

/* Runs CFG's budget for one cell; RUN may be NULL (no report files). */
int rr__run_cell(const struct rr__run_config *cfg, struct rr__run *run, struct rr__cell *cell);
/* Runs exactly one iteration with CFG (exact seed), in a worker process. */
int rr__run_once(const struct rr__run_config *cfg, struct rr__once *out);
/* Installs SIGINT/SIGTERM handlers; nonzero once one arrived. */
void rr__driver_signals(void);
int rr__driver_interrupted(void);

/* forensics.c: gdb backtraces of every thread (malloc'd text, or NULL). */
char *rr__backtrace_core(const char *core_path);
char *rr__backtrace_attach(pid_t pid);

/* oracle.c */
int rr__classify(int wstatus, int watchdog, const struct rr__worker_shm *w, const char *san_log,
		 char *sig, size_t sigcap, char *msg, size_t msgcap);
void rr__slug(const char *sig, char *out, size_t cap);

/* report.c */
int rr__report_open(struct rr__run *run, const char *dir, int argc, char **argv);
void rr__report_event(struct rr__run *run, const char *json_fields);
void rr__report_failure(struct rr__run *run, const struct rr__cell *cell,
			const struct rr__signature *s, uint64_t iteration, const char *strategy,
			uint64_t seed, int is_new);
void rr__report_progress(struct rr__run *run, const struct rr__cell *cell, int final);
int rr__report_finish(struct rr__run *run);
void rr__report_print_summary(const struct rr__run *run, FILE *f);
void rr__cell_verdict(struct rr__run *run, struct rr__cell *cell);
char *rr__json_escape(const char *s, char *out, size_t cap);
void rr__xml_escape(FILE *f, const char *s);
void rr__junit_testcase(FILE *f, const struct rr__run *run, const struct rr__cell *c,
			const char *build);

#endif
