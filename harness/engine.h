/*
 * engine.h: running a scenario in this process, one iteration at a time.
 *
 * The one place that knows the protocol of an iteration: the context is set,
 * the scenario's setup runs once, and each iteration resets the finding,
 * begins the scheduler, calls iterate(), ends the scheduler and runs the
 * lifetime oracle. Worker processes (supervisor.c), --no-fork, the fuzz
 * targets (fuzz/libfuzzer.c) and the benchmark's bare loop all run
 * iterations through it, so they cannot drift apart.
 */
#ifndef RR_ENGINE_H
#define RR_ENGINE_H

#include "rr_internal.h"

/* rr__ctx.in_process values: a worker process (a finding exits it), an
 * iteration in the tool's own process (--no-fork: a finding aborts), or a
 * fuzz target (a harness failure must not look like a crash). */
enum { RR_IN_WORKER = 0, RR_IN_PROCESS = 1, RR_IN_FUZZER = 2 };

struct rr__engine {
	const struct rr__run_config *cfg;
	struct rr__worker_shm *shm;
	void *state;  /* what the scenario's setup made */
	int ready;    /* setup ran and did not fail or skip */
};

/* Points rr__ctx at CFG and SHM (IN_PROCESS: an RR_IN_* value) and runs the
 * scenario's setup. Returns 0, RR_SKIP (the reason is in SHM->message), or a
 * negative value for an environment error. Call once per process. */
int rr__engine_setup(struct rr__engine *e, const struct rr__run_config *cfg,
		     struct rr__worker_shm *shm, int in_process);

/* One iteration under STRATEGY with timing seed SEED (INDEX is what the
 * reports call it; INPUT, PCT_DEPTH and PCT_STEPS as for rr__sched_begin).
 * Returns iterate()'s result: >= 0 pass, < 0 an environment error. A finding
 * does not return (it ends the worker, or aborts in-process). */
int rr__engine_iterate(struct rr__engine *e, int strategy, uint64_t index, uint64_t seed,
		       const uint8_t *input, uint32_t ninput, uint32_t pct_depth,
		       uint32_t pct_steps);

/* The scenario's teardown (when setup succeeded), then the System V segments
 * the iterations tracked are removed. */
void rr__engine_teardown(struct rr__engine *e);

/* Removes the System V segments tracked in W and forgets them. */
void rr__engine_remove_segments(struct rr__worker_shm *w);

#endif
