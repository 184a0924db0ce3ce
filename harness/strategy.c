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
 *   surw       selectively uniform random walk (Zhao, Wolff, Mathur,
 *              Roychoudhury, ASPLOS 2025): threads at wrapper points go
 *              first, uniformly; among threads at scenario-named points one
 *              runs with probability proportional to the named points its
 *              role is expected still to take (learned per role)
 *   pos        partial order sampling (Yuan, Yang, Gu, CAV 2018): random
 *              priorities; after a step, the threads about to touch the same
 *              object draw fresh priorities
 *   input      the next decision byte picks the thread; then a fixed default
 *   portfolio  chooses among noise, random, pct, surw and pos per iteration,
 *              more often the ones that have found failures in this cell
 *   greybox    a corpus-and-mutation loop in the worker (greybox.c): each
 *              iteration runs an abstract schedule under input, mutated from
 *              one that set new feedback bits, with holds that recreate the
 *              event behind that one's rarest bit
 */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strategy.h"

const char *const rr__strategy_names[RR_NSTRATEGIES] = {
	"none", "noise", "random", "pct", "input", "portfolio", "surw", "pos", "greybox"};

int rr__strategy_parse(const char *name)
{
	for (int i = 0; i < RR_NSTRATEGIES; i++)
		if (!strcmp(name, rr__strategy_names[i]))
			return i;
	return -1;
}

int rr__strategy_controlled(int id)
{
	return id == RR_STRAT_RANDOM || id == RR_STRAT_PCT || id == RR_STRAT_INPUT ||
	       id == RR_STRAT_SURW || id == RR_STRAT_POS;
}

/* ------------------------------------------------------------------------ */
/* portfolio                                                                 */
/* ------------------------------------------------------------------------ */

const int rr__portfolio_arms[] = {RR_STRAT_NOISE, RR_STRAT_RANDOM, RR_STRAT_PCT, RR_STRAT_SURW,
				  RR_STRAT_POS};
const int rr__portfolio_narms = (int)(sizeof rr__portfolio_arms / sizeof rr__portfolio_arms[0]);

/* UCB1-Tuned (Auer, Cesa-Bianchi, Fischer 2002) over the arms' hit rates:
 * plain UCB1's exploration term, sqrt(2 ln N / n), dwarfs hit rates of a few
 * percent for thousands of plays, so it would stay a rotation; the tuned
 * bound scales exploration by the arm's observed variance, which is small
 * for an arm that rarely or never hits. A pure function of the counts: the
 * same counts in the same order give the same picks. */
int rr__portfolio_pick(uint64_t index, const uint64_t *plays, const uint64_t *wins)
{
	const int *arm = rr__portfolio_arms;
	int na = rr__portfolio_narms;
	uint64_t total = 0, any_win = 0;
	for (int i = 0; plays && i < na; i++) {
		total += plays[arm[i]];
		any_win += wins[arm[i]];
	}
	/* Until some arm has hit, nothing tells the arms apart: rotate, which
	 * is what UCB1 does with equal means and keeps --jobs runs simple. */
	if (!total || !any_win)
		return arm[index % (uint64_t)na];
	for (int i = 0; i < na; i++)
		if (!plays[arm[i]])
			return arm[i];
	double ln = log((double)total);
	int best = 0;
	double best_score = -1;
	for (int i = 0; i < na; i++) {
		double n = (double)plays[arm[i]];
		double p = (double)wins[arm[i]] / n;
		if (p > 1)
			p = 1; /* wins counted by the driver may run ahead of plays */
		double v = p * (1 - p) + sqrt(2 * ln / n);
		double score = p + sqrt(ln / n * (v < 0.25 ? v : 0.25));
		if (score > best_score) {
			best_score = score;
			best = i;
		}
	}
	return arm[best];
}

/* ------------------------------------------------------------------------ */
/* surw's learned expectations                                               */
/* ------------------------------------------------------------------------ */

/* Per process: a worker learns from the iterations it ran. The driver's
 * process runs none, so each worker starts from nothing (or from a preset
 * inherited through fork, for replay). */
#define MAX_LEARNED 64
static struct {
	char role[24];
	uint64_t sum, n;
} learned[MAX_LEARNED];
static int nlearned;
static int preset; /* expectations fixed by rr__surw_preset: no learning */

static int learned_find(const char *role, int add)
{
	for (int i = 0; i < nlearned; i++)
		if (!strcmp(learned[i].role, role))
			return i;
	if (!add || nlearned >= MAX_LEARNED || strlen(role) >= sizeof learned[0].role)
		return -1;
	memset(&learned[nlearned], 0, sizeof learned[0]);
	memcpy(learned[nlearned].role, role, strlen(role) + 1); /* fits: checked above */
	return nlearned++;
}

int rr__surw_preset(const char *spec)
{
	nlearned = 0;
	preset = spec != NULL;
	if (!spec)
		return 0;
	const char *p = spec, *w;
	size_t wlen;
	while ((w = rr__next_word(&p, &wlen))) {
		const char *eq = memchr(w, '=', wlen);
		if (!eq || eq == w || (size_t)(eq - w) >= sizeof learned[0].role)
			return -1;
		char role[24];
		memcpy(role, w, (size_t)(eq - w));
		role[eq - w] = '\0';
		char *end;
		unsigned long v = strtoul(eq + 1, &end, 10);
		if (end == eq + 1 || end != w + wlen || v > 1000000)
			return -1;
		int i = learned_find(role, 1);
		if (i < 0)
			return -1;
		learned[i].sum = v;
		learned[i].n = 1;
	}
	return 0;
}

int rr__surw_expectations(const char *const *roles, uint8_t *role, uint8_t *expect, int cap)
{
	int n = 0;
	for (int i = 0; i < nlearned && n < cap; i++) {
		for (int r = 0; roles && roles[r] && r < 256; r++) {
			if (strcmp(roles[r], learned[i].role) || !learned[i].n)
				continue;
			role[n] = (uint8_t)r;
			expect[n++] = rr__surw_expect_byte(learned[i].sum, learned[i].n);
			break;
		}
	}
	return n;
}

int rr__surw_learned(const char *const *roles, uint64_t *sum, uint64_t *n, int cap)
{
	int r = 0;
	for (; roles && roles[r] && r < cap; r++) {
		int i = learned_find(roles[r], 0);
		sum[r] = i < 0 ? 0 : learned[i].sum;
		n[r] = i < 0 ? 0 : learned[i].n;
	}
	return r;
}

void rr__surw_learn_add(const char *const *roles, const uint64_t *sum, const uint64_t *n, int count)
{
	for (int r = 0; roles && roles[r] && r < count; r++) {
		if (!n[r] || preset)
			continue;
		int i = learned_find(roles[r], 1);
		if (i < 0)
			continue;
		learned[i].sum += sum[r];
		learned[i].n += n[r];
	}
}

void rr__surw_format(const struct rr__sched *s, char *buf, size_t cap)
{
	size_t len = 0;
	if (cap)
		buf[0] = '\0';
	for (int i = 0; i < s->nsurw && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s=%u", i ? " " : "",
					s->surw[i].role, s->surw[i].expect);
}

/* The expectations as this iteration will use them: rounded up, so that a
 * role seen taking 2 or 3 points counts as 3 and is not starved early. */
static void surw_snapshot(struct rr__sched *s)
{
	s->nsurw = 0;
	for (int i = 0; i < nlearned && s->nsurw < RR_MAX_THREADS; i++) {
		if (!learned[i].n)
			continue;
		struct rr__role_expect *e = &s->surw[s->nsurw++];
		memcpy(e->role, learned[i].role, sizeof e->role);
		e->expect = (uint32_t)((learned[i].sum + learned[i].n - 1) / learned[i].n);
	}
}

void rr__strategy_end(struct rr__sched *s)
{
	if (preset || !s->controlled)
		return;
	for (int i = 0; i < s->nslots && i < RR_MAX_THREADS; i++) {
		int k = learned_find(s->slots[i].role, 1);
		if (k < 0)
			continue;
		learned[k].sum += s->slots[i].named;
		learned[k].n++;
	}
}

/* ------------------------------------------------------------------------ */
/* The controlled strategies                                                 */
/* ------------------------------------------------------------------------ */

static uint64_t below(uint64_t *rng, uint64_t n)
{
	return n ? rr__splitmix64(rng) % n : 0;
}

int rr__input_legacy;

/* The strategy that makes this iteration's unforced decisions: an abstract
 * schedule's base sampler under `input`, else the strategy itself. */
static int eff(const struct rr__sched *s)
{
	return s->abstract ? s->abs.base : s->strategy;
}

static const char *const *scenario_roles(void)
{
	return rr__ctx.cfg && rr__ctx.cfg->scenario ? rr__ctx.cfg->scenario->roles : NULL;
}

/* An abstract schedule: its header sets the base sampler's parameters. */
static void abstract_begin(struct rr__sched *s)
{
	s->abstract = 1;
	rr__schedule_decode(s->input, s->ninput, &s->abs);
	const char *const *roles = scenario_roles();
	s->nroles = 0;
	while (roles && roles[s->nroles] && s->nroles < RR_MAX_THREADS)
		s->nroles++;
	s->seed = s->rng = s->abs.seed;
	s->pct_depth = s->abs.pct_depth;
	s->pct_steps = s->abs.pct_steps ? s->abs.pct_steps : 32;
	s->nsurw = 0;
	for (int i = 0; i < s->abs.nexpect && s->nroles; i++) {
		const char *role = roles[s->abs.expect_role[i] % s->nroles];
		int dup = 0;
		for (int j = 0; j < s->nsurw; j++)
			dup |= !strcmp(s->surw[j].role, role);
		if (dup || strlen(role) >= sizeof s->surw[0].role)
			continue;
		memcpy(s->surw[s->nsurw].role, role, strlen(role) + 1); /* fits: checked above */
		s->surw[s->nsurw++].expect = s->abs.expect[i];
	}
}

void rr__strategy_begin(struct rr__sched *s)
{
	if (s->strategy == RR_STRAT_INPUT && !rr__input_legacy)
		abstract_begin(s);
	else if (s->strategy == RR_STRAT_SURW)
		surw_snapshot(s);
	if (eff(s) != RR_STRAT_PCT)
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
	if (eff(s) == RR_STRAT_PCT)
		sl->priority = (uint64_t)(s->pct_depth ? s->pct_depth : 3) + 16 +
			       (rr__splitmix64(&s->rng) >> 8);
	if (eff(s) == RR_STRAT_POS)
		sl->priority = rr__splitmix64(&s->rng);
	sl->role_idx = -1;
	const char *const *roles = scenario_roles();
	for (int i = 0; roles && roles[i] && i < RR_MAX_THREADS; i++)
		if (!strcmp(roles[i], sl->role))
			sl->role_idx = i;
	sl->surw_expect = -1;
	for (int i = 0; i < s->nsurw; i++)
		if (!strcmp(s->surw[i].role, sl->role))
			sl->surw_expect = (int32_t)s->surw[i].expect;
	/* Each thread's noise stream depends only on the seed and its start
	 * order, not on how the threads happen to interleave. */
	sl->noise_rng = s->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(id + 1));
}

void rr__strategy_step(struct rr__sched *s)
{
	if (eff(s) != RR_STRAT_POS)
		return;
	/* POS: the step just taken is an event; every pending event that
	 * conflicts with it (another thread about to touch the same object)
	 * is reordered by a fresh priority, and so is the thread's own next
	 * event. Events on different objects keep their relative order. */
	struct rr__slot *cur = &s->slots[s->current];
	uint64_t done = cur->obj_done;
	if (done) {
		for (int i = 0; i < s->nslots; i++) {
			struct rr__slot *o = &s->slots[i];
			if (i != s->current && o->state != RR_SLOT_EXITED && o->obj == done)
				o->priority = rr__splitmix64(&s->rng);
		}
	}
	cur->priority = rr__splitmix64(&s->rng);
}

/* SURW. The interleavings that matter are those of the scenario's named
 * points; SURW samples them as uniformly as it can by weighting each thread
 * with the named points its role is still expected to take (a thread with
 * many left must go first often, or its points bunch up at the end).
 * Selectivity: a runnable thread that stands at a wrapper point (a lock, a
 * read, a poll) or has not reached its first point does not take part in
 * the weighted draw: its next step is uninteresting, so one of those runs
 * first, chosen uniformly; only when every runnable thread stands at a named
 * point is the weighted choice made. Letting the weights decide at wrapper
 * points as well starved threads with no named points left (a peer that
 * only moves datagrams) and fell below random on dtls_timer_rx. A role with
 * no estimate yet (a worker's first iteration) makes the draw uniform. */
static int surw_choose(struct rr__sched *s, const int *runnable, int n)
{
	int wrapper[RR_MAX_THREADS], nw = 0;
	for (int i = 0; i < n; i++)
		if (!s->slots[runnable[i]].at_named)
			wrapper[nw++] = i;
	if (nw)
		return wrapper[below(&s->rng, (uint64_t)nw)];
	uint64_t w[RR_MAX_THREADS], total = 0;
	for (int i = 0; i < n; i++) {
		const struct rr__slot *sl = &s->slots[runnable[i]];
		if (sl->surw_expect < 0)
			return (int)below(&s->rng, (uint64_t)n);
		/* NAMED already counts the point it stands at: that one and
		 * those expected after it; at least the one it stands at when
		 * the estimate was low. */
		uint32_t e = (uint32_t)sl->surw_expect;
		w[i] = e >= sl->named ? e - sl->named + 1 : 1;
		total += w[i];
	}
	uint64_t r = below(&s->rng, total);
	for (int i = 0; i < n; i++) {
		if (r < w[i])
			return i;
		r -= w[i];
	}
	return n - 1; /* not reached: the weights sum to TOTAL */
}

static int highest_priority(const struct rr__sched *s, const int *runnable, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (s->slots[runnable[i]].priority > s->slots[runnable[best]].priority)
			best = i;
	return best;
}

/* An override keyed by the deciding thread's role and the number of race
 * points that role has taken: the target role runs next if one of its
 * threads can. Returns an index into RUNNABLE, or -1. */
static int override_choice(const struct rr__sched *s, const int *runnable, int n)
{
	const struct rr__slot *cur = &s->slots[s->current];
	int r = cur->role_idx;
	if (r < 0 || !s->nroles || !s->role_points[r])
		return -1;
	uint32_t k = s->role_points[r] - 1;
	for (int i = 0; i < s->abs.nover; i++) {
		const struct rr__override *o = &s->abs.over[i];
		if (o->role % s->nroles != r || o->k != k)
			continue;
		int t = o->target % s->nroles;
		for (int j = 0; j < n; j++)
			if (s->slots[runnable[j]].role_idx == t)
				return j;
		return -1;
	}
	return -1;
}

static int choose_as(struct rr__sched *s, int strategy, const int *runnable, int n,
		     int current_runnable);

/* A role has passed its K-th point once it was let past it, or ended. */
static int role_passed(const struct rr__sched *s, int role, uint32_t k)
{
	if (s->role_passed[role] > k)
		return 1;
	int seen = 0;
	for (int i = 0; i < s->nslots; i++) {
		if (s->slots[i].role_idx != role)
			continue;
		if (s->slots[i].state != RR_SLOT_EXITED)
			return 0;
		seen = 1;
	}
	return seen;
}

/* The thread in SL stands at a point a hold keeps it at. */
static int held(const struct rr__sched *s, const struct rr__slot *sl)
{
	int r = sl->role_idx;
	if (!sl->pending || r < 0 || !s->nroles || !s->role_points[r])
		return 0;
	uint32_t k = s->role_points[r] - 1;
	for (int i = 0; i < s->abs.nhold; i++) {
		const struct rr__hold *h = &s->abs.hold[i];
		int until = h->until_role % s->nroles;
		if (h->role % s->nroles == r && h->k == k && until != r &&
		    !role_passed(s, until, h->until_k))
			return 1;
	}
	return 0;
}

int rr__strategy_choose(struct rr__sched *s, const int *runnable, int n, int current_runnable)
{
	if (!s->abstract)
		return choose_as(s, s->strategy, runnable, n, current_runnable);
	/* Holds narrow the choice to the threads they do not keep back; when
	 * they keep back every runnable thread, none applies (a hold never
	 * deadlocks a run). */
	int free_idx[RR_MAX_THREADS], free_slot[RR_MAX_THREADS], m = 0;
	if (s->abs.nhold) {
		for (int j = 0; j < n; j++)
			if (!held(s, &s->slots[runnable[j]])) {
				free_idx[m] = j;
				free_slot[m++] = runnable[j];
			}
	}
	int narrowed = m && m < n;
	const int *cand = narrowed ? free_slot : runnable;
	int ncand = narrowed ? m : n;
	/* The base sampler decides every time, forced or not, so that an
	 * override changes its own decision and leaves the sampler's stream
	 * where it would have been. */
	int c = choose_as(s, s->abs.base, cand, ncand,
			  narrowed ? current_runnable && free_idx[0] == 0 : current_runnable);
	int o = override_choice(s, cand, ncand);
	int pick = o >= 0 ? o : c;
	return narrowed ? free_idx[pick] : pick;
}

static int choose_as(struct rr__sched *s, int strategy, const int *runnable, int n,
		     int current_runnable)
{
	switch (strategy) {
	case RR_STRAT_RANDOM:
		return (int)below(&s->rng, (uint64_t)n);
	case RR_STRAT_PCT: {
		uint64_t step = s->ndecisions + 1;
		for (uint32_t i = 0; i + 1 < s->pct_depth; i++) {
			if (s->pct_change[i] == step && current_runnable)
				s->slots[runnable[0]].priority = i + 1;
		}
		return highest_priority(s, runnable, n);
	}
	case RR_STRAT_SURW:
		return surw_choose(s, runnable, n);
	case RR_STRAT_POS:
		return highest_priority(s, runnable, n);
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
