/*
 * run.h: the run model. A run is a list of cells (one scenario, one variant,
 * one strategy); a cell counts iterations by outcome and keeps one record per
 * failure signature. The supervisor fills cells, report*.c write them out and
 * `racerepro report` reads them back from events.jsonl.
 */
#ifndef RR_RUN_H
#define RR_RUN_H

#include <limits.h>

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

/* A cell's verdict, in kselftest's vocabulary (design/style.md). The zero
 * value is an error, so that a cell nobody judged never passes. */
enum rr_verdict {
	RR_V_ERROR,      /* only environment errors */
	RR_V_REPRODUCED, /* expected to fail, and a bug, sanitizer or crash showed */
	RR_V_MISSED,     /* expected to fail, and nothing showed: a detection miss */
	RR_V_CLEAN,      /* must not fail, and nothing did */
	RR_V_FAILED,     /* must not fail, and something did */
	RR_V_SKIPPED,    /* the scenario skipped itself (skip_reason) */
	RR_NVERDICTS
};
extern const char *const rr__verdict_names[RR_NVERDICTS];
/* Does a run whose cells all have V hold? */
int rr__verdict_ok(enum rr_verdict v);
/* How JUnit counts V: 0 passed, 1 failure, 2 error, 3 skipped. */
int rr__verdict_junit(enum rr_verdict v);

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
	int32_t nnotes;
	char notes[RR_MAX_NOTES][2][RR_NOTE];
	/* Values set with --param, owned by the cell: the run configuration
	 * that named them is gone by the time the summary is written. */
	struct rr__params params;
	int skipped;
	char skip_reason[256];
	int interrupted;
	enum rr_verdict verdict;
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
	/* events.jsonl's end and the end of the space held for it beyond
	 * (fallocate): findings and cell ends still fit when the disk is full. */
	uint64_t events_size, events_reserved;
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

#endif
