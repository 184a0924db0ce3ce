/*
 * strategy.c: the strategies. A strategy's choices are a pure function of the
 * iteration's timing seed (or decision bytes), so that a failure can be
 * replayed.
 *
 *   none       nothing: plain stress looping, the baseline upstream used
 *   noise      a seeded choice of nothing, sched_yield, a short spin or sleep
 *   random     the run token goes to a uniformly chosen runnable thread
 *   pct        PCT (Burckhardt et al., ASPLOS 2010): random priorities, d-1
 *              priority change points, the highest-priority thread runs
 *   input      the next decision byte picks the thread; then a fixed default
 *   portfolio  rotates noise, random and pct across iterations
 */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
#include <time.h>

#include "strategy.h"

const char *const rr__strategy_names[RR_NSTRATEGIES] = {"none",  "noise", "random",
							"pct",   "input", "portfolio"};

int rr__strategy_parse(const char *name)
{
	for (int i = 0; i < RR_NSTRATEGIES; i++)
		if (!strcmp(name, rr__strategy_names[i]))
			return i;
	return -1;
}

int rr__strategy_controlled(int id)
{
	return id == RR_STRAT_RANDOM || id == RR_STRAT_PCT || id == RR_STRAT_INPUT;
}

int rr__portfolio_pick(uint64_t index)
{
	static const int order[] = {RR_STRAT_NOISE, RR_STRAT_RANDOM, RR_STRAT_PCT};
	return order[index % 3];
}

static uint64_t below(uint64_t *rng, uint64_t n)
{
	return n ? rr__splitmix64(rng) % n : 0;
}

void rr__strategy_begin(struct rr__sched *s)
{
	if (s->strategy != RR_STRAT_PCT)
		return;
	/* d-1 change points drawn uniformly over the expected number of
	 * decisions; at the i-th the running thread drops to priority i, below
	 * every initial priority (which are all >= d). */
	uint32_t d = s->pct_depth ? s->pct_depth : 3;
	if (d > 16)
		d = 16;
	s->pct_depth = d;
	uint32_t k = s->pct_steps ? s->pct_steps : 32;
	for (uint32_t i = 0; i + 1 < d; i++)
		s->pct_change[i] = 1 + below(&s->rng, k);
}

void rr__strategy_thread_added(struct rr__sched *s, int id)
{
	struct rr__slot *sl = &s->slots[id];
	if (s->strategy == RR_STRAT_PCT)
		sl->priority = (uint64_t)(s->pct_depth ? s->pct_depth : 3) + 16 +
			       (rr__splitmix64(&s->rng) >> 8);
	/* Each thread's noise stream depends only on the seed and its start
	 * order, not on how the threads happen to interleave. */
	sl->noise_rng = s->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(id + 1));
}

int rr__strategy_choose(struct rr__sched *s, const int *runnable, int n, int current_runnable)
{
	(void)current_runnable;
	switch (s->strategy) {
	case RR_STRAT_RANDOM:
		return (int)below(&s->rng, (uint64_t)n);
	case RR_STRAT_PCT: {
		uint64_t step = s->ndecisions + 1;
		for (uint32_t i = 0; i + 1 < s->pct_depth; i++) {
			if (s->pct_change[i] == step && current_runnable)
				s->slots[runnable[0]].priority = i + 1;
		}
		int best = 0;
		for (int i = 1; i < n; i++)
			if (s->slots[runnable[i]].priority > s->slots[runnable[best]].priority)
				best = i;
		return best;
	}
	case RR_STRAT_INPUT:
		if (s->input_pos < s->ninput)
			return s->input[s->input_pos++] % n;
		return 0;
	default:
		return 0;
	}
}

void rr__strategy_perturb(struct rr__sched *s, struct rr__slot *slot)
{
	if (s->strategy != RR_STRAT_NOISE)
		return;
	uint64_t r = rr__splitmix64(&slot->noise_rng);
	switch (r & 15) {
	case 0 ... 7: /* most points run straight through, as in production */
		break;
	case 8 ... 10:
		sched_yield();
		break;
	case 11 ... 13: {
		/* A short spin: long enough to let another core overtake. */
		uint64_t spins = (r >> 8) % 4096;
		for (volatile uint64_t i = 0; i < spins; i++)
			;
		break;
	}
	default: {
		struct timespec ts = {0, (long)(1000 + (r >> 16) % 50000)};
		nanosleep(&ts, NULL);
		break;
	}
	}
}
