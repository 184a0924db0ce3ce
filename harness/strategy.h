/*
 * strategy.h: what a strategy does at a race point. The scheduler calls these
 * four entry points with its state; each switches on the iteration's concrete
 * strategy id (rr__sched.strategy), so a new strategy is a new case in each.
 */
#ifndef RR_STRATEGY_H
#define RR_STRATEGY_H

#include "rr_internal.h"

/* Once per iteration, after the scheduler state is reset. */
void rr__strategy_begin(struct rr__sched *s);
/* A thread took slot ID (start order). */
void rr__strategy_thread_added(struct rr__sched *s, int id);
/* Every step of a controlled run, before the choice (even when only one
 * thread can run): s->current has just finished the step that touched its
 * obj_done and is about to touch obj. */
void rr__strategy_step(struct rr__sched *s);
/* Controlled strategies: picks an index into RUNNABLE (N >= 2 slot ids;
 * index 0 is the current thread when CURRENT_RUNNABLE). */
int rr__strategy_choose(struct rr__sched *s, const int *runnable, int n, int current_runnable);
/* Free-running strategies: the perturbation at a race point. */
void rr__strategy_perturb(struct rr__sched *s, struct rr__slot *slot);
/* After an iteration that ended normally: what the strategies learn. */
void rr__strategy_end(struct rr__sched *s);

#endif
