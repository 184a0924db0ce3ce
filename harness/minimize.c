/*
 * minimize.c: delta debugging of a failing schedule, then preemption
 * bounding (minimize.h). A schedule here is a version-1 `input`: one byte
 * per scheduling decision, byte % n picks among the n runnable threads, and
 * past its end the current thread keeps running.
 */
#include <stdio.h>
#include <string.h>

#include "minimize.h"
#include "supervisor.h"

/* The search stops early on a signal or at the deadline; a trial run cut
 * short by a signal proves nothing either way. */
static uint64_t deadline;

static int stopped(void)
{
	return rr__driver_interrupted() || (deadline && rr__mono_ns() >= deadline);
}

/* Does SCHEDULE, as an input, still end in SIG? (No, once stopped.) */
static int still_fails(struct rr__run_config *cfg, const uint8_t *schedule, uint32_t n,
		       const char *sig, struct rr__once *o)
{
	if (stopped())
		return 0;
	cfg->strategy = RR_STRAT_INPUT;
	rr__input_legacy = 1; /* the decisions, as version-1 bytes */
	cfg->input = (uint8_t *)schedule;
	cfg->ninput = n;
	rr__run_once(cfg, o);
	return !stopped() && !strcmp(o->sig, sig);
}

/* The next combination of K positions out of N in POS (ascending);
 * returns 0 after the last. */
static int next_combination(uint32_t *pos, int k, uint32_t n)
{
	int i = k - 1;
	while (i >= 0 && pos[i] == n - (uint32_t)(k - i))
		i--;
	if (i < 0)
		return 0;
	pos[i]++;
	for (int j = i + 1; j < k; j++)
		pos[j] = pos[j - 1] + 1;
	return 1;
}

/* Iterative preemption bounding (Musuvathi and Qadeer, PLDI 2007) over the
 * failing run's decisions: for P = 0, 1, 2, ... below what the deletion
 * phases kept (CURRENT preemptions), every schedule whose non-default
 * choices sit at P of the first L decisions of the original failing run
 * (L = LEN), each choosing one of the other threads (1 .. nslots-1; a value
 * past a decision's runnable count wraps, so some schedules repeat). The
 * first that shows SIG replaces BEST. A budget of trial runs keeps it
 * bounded; the positions come from the failing run, so P = 2 or 3 on a
 * 20-decision run is a few thousand runs at most. */
#define BOUND_MAX_P 4
#define BOUND_MAX_LEN 48
#define BOUND_TRIES 6000
static void bounded_search(struct rr__run_config *cfg, struct rr__once *o, const char *sig,
			   uint8_t *best, uint32_t *n, uint32_t current, uint32_t len, int *tries)
{
	static uint8_t trial[RR_MAX_SCHEDULE];
	int nslots = o->sched.nslots;
	uint32_t choices = nslots > 1 ? (uint32_t)nslots - 1 : 1;
	if (len > BOUND_MAX_LEN)
		len = BOUND_MAX_LEN;
	for (uint32_t p = 0; p < current && p <= BOUND_MAX_P && p <= len; p++) {
		uint32_t pos[BOUND_MAX_P + 1], ch[BOUND_MAX_P + 1];
		for (uint32_t i = 0; i < p; i++)
			pos[i] = i;
		do {
			for (uint32_t i = 0; i < p; i++)
				ch[i] = 0;
			for (;;) {
				if (*tries >= BOUND_TRIES || stopped())
					return;
				uint32_t tn = p ? pos[p - 1] + 1 : 0;
				memset(trial, 0, tn);
				for (uint32_t i = 0; i < p; i++)
					trial[pos[i]] = (uint8_t)(1 + ch[i]);
				(*tries)++;
				if (still_fails(cfg, trial, tn, sig, o) &&
				    o->sched.preemptions < current) {
					memcpy(best, trial, tn);
					*n = tn;
					return;
				}
				uint32_t i = 0; /* the next choice vector */
				while (i < p && ++ch[i] == choices)
					ch[i++] = 0;
				if (i == p)
					break;
			}
		} while (p && next_combination(pos, (int)p, len));
	}
}

int rr__minimize(struct rr__run_config *cfg, struct rr__once *o, uint64_t deadline_ns,
		 struct rr__minimized *m)
{
	memset(m, 0, sizeof *m);
	deadline = deadline_ns;
	rr__run_once(cfg, o);
	if (rr__driver_interrupted())
		return RR_MIN_INTERRUPTED;
	if (o->outcome == RR_PASS || o->outcome == RR_ERROR)
		return RR_MIN_NO_FAILURE;
	snprintf(m->sig, sizeof m->sig, "%s", o->sig);
	const char *sig = m->sig;
	/* The decisions the failing run took, as an input schedule. */
	uint8_t *best = m->schedule;
	static uint8_t trial[RR_MAX_SCHEDULE];
	uint32_t n = o->sched.ndecisions;
	m->n_original = n;
	memcpy(best, o->sched.decisions, n);
	m->preemptions_before = o->sched.preemptions;
	if (!still_fails(cfg, best, n, sig, o)) {
		m->timed_out = !rr__driver_interrupted() && stopped();
		return rr__driver_interrupted() ? RR_MIN_INTERRUPTED : RR_MIN_NOT_AN_INPUT;
	}
	int tries = 0;
	/* 1. Drop trailing decisions: past the end of the input the default
	 * (keep running the current thread) applies. */
	while (n > 0 && tries < 2000) {
		tries++;
		if (!still_fails(cfg, best, n - 1, sig, o))
			break;
		n--;
	}
	/* 2. Delete chunks of decisions, halving the chunk size (ddmin): a
	 * deleted decision shifts the later ones onto earlier choices. */
	for (uint32_t chunk = n / 2; chunk >= 1 && tries < 3000; chunk /= 2) {
		for (uint32_t at = 0; at + chunk <= n && tries < 3000;) {
			memcpy(trial, best, at);
			memcpy(trial + at, best + at + chunk, n - at - chunk);
			tries++;
			if (still_fails(cfg, trial, n - chunk, sig, o)) {
				n -= chunk;
				memcpy(best, trial, n);
			} else {
				at += chunk;
			}
		}
	}
	/* 3. Turn preemptions into the default choice, one at a time. */
	for (uint32_t i = 0; i < n && tries < 4000; i++) {
		if (!best[i])
			continue;
		memcpy(trial, best, n);
		trial[i] = 0;
		tries++;
		if (still_fails(cfg, trial, n, sig, o))
			best[i] = 0;
	}
	if (rr__driver_interrupted())
		return RR_MIN_INTERRUPTED;
	while (n > 0 && best[n - 1] == 0)
		n--;
	/* 4. Preemption bounding: deletion keeps whatever preemptions the
	 * sampler happened to make on the way; the fewest that show the
	 * failure are found by trying every schedule with 0, 1, 2, ...
	 * non-default choices placed along the failing run's decisions. */
	if (!stopped() && still_fails(cfg, best, n, sig, o))
		bounded_search(cfg, o, sig, best, &n, o->sched.preemptions, m->n_original, &tries);
	if (rr__driver_interrupted())
		return RR_MIN_INTERRUPTED;
	m->timed_out = stopped();
	/* The last run only counts the result's preemptions: past the
	 * deadline too, not after a signal. */
	deadline = 0;
	still_fails(cfg, best, n, sig, o);
	if (rr__driver_interrupted())
		return RR_MIN_INTERRUPTED;
	m->n = n;
	m->preemptions_after = o->sched.preemptions;
	m->tries = tries;
	return RR_MIN_OK;
}
