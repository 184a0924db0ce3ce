/*
 * engine.c: one iteration in this process (engine.h). Nothing here forks or
 * waits: the supervisor decides where the engine runs and what a finding
 * costs; the engine only keeps the order of the steps.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "engine.h"

int rr__engine_setup(struct rr__engine *e, const struct rr__run_config *cfg,
		     struct rr__worker_shm *shm, int in_process)
{
	memset(e, 0, sizeof *e);
	e->cfg = cfg;
	e->shm = shm;
	rr__ctx.cfg = cfg;
	rr__ctx.shm = shm;
	rr__ctx.in_process = in_process;
	if (cfg->scenario->setup) {
		int rc = cfg->scenario->setup(&e->state);
		if (rc == RR_SKIP)
			return RR_SKIP;
		if (rc < 0)
			return rc;
	}
	e->ready = 1;
	return 0;
}

int rr__engine_iterate(struct rr__engine *e, int strategy, uint64_t index, uint64_t seed,
		       const uint8_t *input, uint32_t ninput, uint32_t pct_depth,
		       uint32_t pct_steps)
{
	struct rr__worker_shm *w = e->shm;
	w->iter_index = index;
	w->iter_seed = seed;
	/* A finding left over from an earlier environment error would make
	 * rr_bug wait forever for a winner. */
	w->message[0] = '\0';
	__atomic_store_n(&w->finding, RR_PASS, __ATOMIC_SEQ_CST);
	w->iter_started_ns = rr__mono_ns();
	__atomic_store_n(&w->state, RR_W_ITERATING, __ATOMIC_SEQ_CST);
	rr__sched_begin(&w->sched, strategy, seed, input, ninput, pct_depth, pct_steps,
			e->cfg->scenario->roles[0]);
	int rc = e->cfg->scenario->iterate(e->state);
	rr__sched_end(&w->sched);
	if (rc >= 0)
		rr__lifetime_iteration_end();
	__atomic_store_n(&w->state, RR_W_IDLE, __ATOMIC_SEQ_CST);
	return rc;
}

void rr__engine_remove_segments(struct rr__worker_shm *w)
{
	int n = w->ntracked < RR_MAX_TRACKED ? w->ntracked : RR_MAX_TRACKED;
	for (int i = 0; i < n; i++)
		if (w->tracked_shm[i] >= 0)
			shmctl(w->tracked_shm[i], IPC_RMID, NULL);
	w->ntracked = 0;
}

void rr__engine_teardown(struct rr__engine *e)
{
	if (e->ready && e->cfg->scenario->teardown)
		e->cfg->scenario->teardown(e->state);
	e->ready = 0;
	rr__engine_remove_segments(e->shm);
}
