/*
 * minimize.h: shortening a failing controlled schedule while its failure's
 * signature holds (minimize.c).
 */
#ifndef RR_MINIMIZE_H
#define RR_MINIMIZE_H

#include "run.h"

struct rr__minimized {
	char sig[256];                      /* the failure that had to hold */
	uint8_t schedule[RR_MAX_SCHEDULE];  /* the shortest input found */
	uint32_t n;
	uint32_t n_original;                /* decisions of the failing run */
	uint32_t preemptions_before, preemptions_after;
	int tries;                          /* trial runs */
	int timed_out;                      /* the deadline ended the search */
};

enum {
	RR_MIN_OK = 0,
	RR_MIN_NO_FAILURE = -1,
	RR_MIN_NOT_AN_INPUT = -2,
	RR_MIN_INTERRUPTED = -3, /* SIGINT/SIGTERM (rr__driver_interrupted) */
};

/* Runs CFG once; when it fails, turns the decisions it took into an input
 * schedule and shortens it (trailing decisions, ddmin chunks, single
 * preemptions), then searches for the fewest preemptions that still show the
 * signature (every schedule with 0, 1, 2, ... non-default choices along the
 * failing run's decisions, bounded), each candidate one run in a worker
 * process. CFG becomes an
 * `input` configuration; O holds the last run (after RR_MIN_OK: the minimized
 * schedule's). Returns RR_MIN_OK, RR_MIN_NO_FAILURE (O says how it ended) or
 * RR_MIN_NOT_AN_INPUT (the decisions do not replay as an input). */
/* DEADLINE_NS (CLOCK_MONOTONIC) bounds the search: past it no further trial
 * runs, and the shortest schedule so far is the result (timed_out set). A
 * signal ends it with RR_MIN_INTERRUPTED, whatever was found. */
int rr__minimize(struct rr__run_config *cfg, struct rr__once *o, uint64_t deadline_ns,
		 struct rr__minimized *m);

#endif
