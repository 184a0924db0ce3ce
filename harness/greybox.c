/*
 * greybox.c: the in-harness greybox loop (greybox.h).
 *
 * A kept schedule passes on more than its bytes: the event behind the
 * rarest feedback bit its run set becomes holds (schedule.h,
 * rr__schedule_hold_event) in the corpus entry, so that its children reach
 * that event in the same state while the base sampler varies the rest, and
 * a child that gets one step further (one more thread held back) is kept
 * in turn and holds that too. Without the holds a kept entry passed on only
 * its overrides, whose children failed no more often than fresh samples
 * (reports/feedback-hard-cell.md).
 */
#include <stdlib.h>
#include <string.h>

#include "greybox.h"
#include "schedule.h"

#define CORPUS_MAX 512
#define ENTRY_MAX 512  /* header, expectations, holds and about 50 overrides */
#define FOCUS_MAX 64   /* new entries waiting for their first children */
#define FOCUS_RUNS 8   /* children each new entry gets before the others */
#define TOURNAMENT 4   /* entries drawn to pick a parent when none is new */

static uint8_t corpus[CORPUS_MAX][ENTRY_MAX];
static uint32_t corpus_len[CORPUS_MAX];
static uint16_t corpus_bit[CORPUS_MAX]; /* the rarest bit its run set */
static uint32_t ncorpus;
static uint8_t seen[RR_RF_BITS / 8];
static uint32_t hits[RR_RF_BITS]; /* runs that set each bit */
static uint32_t nseen;
static uint32_t kept; /* entries kept so far: the ring position once full */
static struct {
	uint32_t slot, children_left;
} focus[FOCUS_MAX];
static uint32_t nfocus;

void rr__greybox_reset(void)
{
	ncorpus = 0;
	nseen = 0;
	kept = 0;
	nfocus = 0;
	memset(seen, 0, sizeof seen);
	memset(hits, 0, sizeof hits);
}

void rr__greybox_stats(uint32_t *entries, uint32_t *bits)
{
	*entries = ncorpus;
	*bits = nseen;
}

static int nroles_of(const char *const *roles)
{
	int n = 0;
	while (roles && roles[n])
		n++;
	return n;
}

/* RR_GREYBOX_FEEDBACK=0: the same loop blind, every schedule it runs joins
 * the corpus whatever bits it set and holds an event drawn at random, and
 * parents are drawn uniformly, to measure what the feedback buys (the
 * search benchmark's ablation). Read once per process. */
static int feedback_on(void)
{
	static int on = -1;
	if (on < 0) {
		const char *v = getenv("RR_GREYBOX_FEEDBACK");
		on = !(v && !strcmp(v, "0"));
	}
	return on;
}

/* The entry to mutate: a new one while it has children left to get (a
 * step further along an interleaving is found right after the step before
 * it, not among hundreds of older entries); else, with the feedback, the
 * entry of rarest bit among a few drawn (a tournament: rare bits are the
 * interleavings the loop has reached least often). */
static uint32_t pick_parent(uint64_t *rng)
{
	if (nfocus) {
		uint32_t pick = focus[nfocus - 1].slot;
		if (--focus[nfocus - 1].children_left == 0)
			nfocus--;
		return pick;
	}
	uint32_t pick = (uint32_t)(rr__splitmix64(rng) % ncorpus);
	for (int t = 1; feedback_on() && t < TOURNAMENT; t++) {
		uint32_t other = (uint32_t)(rr__splitmix64(rng) % ncorpus);
		if (hits[corpus_bit[other]] < hits[corpus_bit[pick]])
			pick = other;
	}
	return pick;
}

uint32_t rr__greybox_next(uint64_t seed, const char *const *roles, uint8_t *out, uint32_t cap)
{
	static struct rr__abstract a;
	uint64_t rng = seed;
	if (cap > ENTRY_MAX)
		cap = ENTRY_MAX;
	uint64_t r = rr__splitmix64(&rng);
	size_t n;
	if (!ncorpus || r % 2 == 0) {
		/* Fresh, half the time: a base sampler alone, seeded by the
		 * iteration, so that the loop keeps its samplers' hit rate in
		 * part (a quarter measured worse on broken_pipe: 1.3 % against
		 * 4 % failing iterations over 300). surw, the sampler with the
		 * highest failing fraction in every cell of the search bench,
		 * as the fuzz targets' first children: drawn among all four,
		 * greybox needed a median of 18 iterations on broken_pipe and
		 * 51 on the hard cell at N = 12, against 11 and 10 from surw
		 * (fuzz/README.md). RR_GREYBOX_BASE picks another. */
		memset(&a, 0, sizeof a);
		a.base = rr__schedule_base >= 0 ? rr__schedule_base : RR_STRAT_SURW;
		a.seed = rr__splitmix64(&rng);
		a.pct_depth = 3;
		n = rr__schedule_encode(&a, out, cap);
	} else {
		uint32_t pick = pick_parent(&rng);
		n = corpus_len[pick] < cap ? corpus_len[pick] : cap;
		memcpy(out, corpus[pick], n);
		n = rr__schedule_mutate(out, n, cap, rr__splitmix64(&rng), nroles_of(roles));
	}
	/* surw needs expectations in the schedule itself to replay anywhere:
	 * what this worker has learned. */
	uint8_t role[RR_SCHED_EXPECTS], expect[RR_SCHED_EXPECTS];
	int ne = rr__surw_expectations(roles, role, expect, RR_SCHED_EXPECTS);
	return (uint32_t)rr__schedule_with_expectations(out, n, cap, role, expect, ne);
}

int rr__greybox_result(const struct rr__sched *s, const uint8_t *in, uint32_t n)
{
	uint32_t fresh = 0;
	for (uint32_t i = 0; i < RR_RF_BITS / 8; i++) {
		for (uint8_t b = s->rf_map[i]; b; b &= (uint8_t)(b - 1))
			hits[i * 8 + (uint32_t)__builtin_ctz(b)]++;
		uint8_t add = (uint8_t)(s->rf_map[i] & ~seen[i]);
		if (add) {
			fresh += (uint32_t)__builtin_popcount(add);
			seen[i] |= add;
		}
	}
	nseen += fresh;
	if ((!fresh && feedback_on()) || n > ENTRY_MAX)
		return 0;
	/* Full: the new entry replaces the oldest after the first quarter
	 * (a ring), which keeps the early, short schedules. */
	kept++;
	uint32_t slot = ncorpus < CORPUS_MAX ? ncorpus++
					     : CORPUS_MAX / 4 + kept % (CORPUS_MAX - CORPUS_MAX / 4);
	static struct rr__abstract a;
	rr__schedule_decode(in, n, &a);
	uint64_t rng = s->seed ^ (0x9e3779b97f4a7c15ull * kept);
	uint16_t bit = 0;
	int cut = rr__schedule_pick_event(s, feedback_on() ? hits : NULL, &rng, &bit);
	if (cut >= 0)
		rr__schedule_hold_event(s, (uint32_t)cut, &a);
	corpus_len[slot] = (uint32_t)rr__schedule_encode(&a, corpus[slot], ENTRY_MAX);
	corpus_bit[slot] = bit;
	if (nfocus == FOCUS_MAX) {
		memmove(focus, focus + 1, (FOCUS_MAX - 1) * sizeof focus[0]);
		nfocus--;
	}
	focus[nfocus].slot = slot;
	focus[nfocus++].children_left = FOCUS_RUNS;
	return 1;
}
