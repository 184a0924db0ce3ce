/*
 * minimize.c: delta debugging of a failing schedule (minimize.h). A schedule
 * here is an `input`: one byte per scheduling decision, byte % n picks among
 * the n runnable threads, and past its end the current thread keeps running.
 */
#include <stdio.h>
#include <string.h>

#include "minimize.h"
#include "supervisor.h"

/* Does SCHEDULE, as an input, still end in SIG? */
static int still_fails(struct rr__run_config *cfg, const uint8_t *schedule, uint32_t n,
		       const char *sig, struct rr__once *o)
{
	cfg->strategy = RR_STRAT_INPUT;
	rr__input_legacy = 1; /* the decisions, as version-1 bytes */
	cfg->input = (uint8_t *)schedule;
	cfg->ninput = n;
	rr__run_once(cfg, o);
	return !strcmp(o->sig, sig);
}

int rr__minimize(struct rr__run_config *cfg, struct rr__once *o, struct rr__minimized *m)
{
	memset(m, 0, sizeof *m);
	rr__run_once(cfg, o);
	if (o->outcome == RR_PASS || o->outcome == RR_ERROR)
		return RR_MIN_NO_FAILURE;
	snprintf(m->sig, sizeof m->sig, "%s", o->sig);
	const char *sig = m->sig;
	/* The decisions the failing run took, as an input schedule. */
	uint8_t *best = m->schedule;
	static uint8_t trial[RR_MAX_SCHEDULE];
	uint32_t n = o->sched.ndecisions;
	memcpy(best, o->sched.decisions, n);
	m->preemptions_before = o->sched.preemptions;
	if (!still_fails(cfg, best, n, sig, o))
		return RR_MIN_NOT_AN_INPUT;
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
	while (n > 0 && best[n - 1] == 0)
		n--;
	still_fails(cfg, best, n, sig, o);
	m->n = n;
	m->preemptions_after = o->sched.preemptions;
	m->tries = tries;
	return RR_MIN_OK;
}
