/*
 * greybox.h: `--strategy greybox`, the fuzzers' corpus-and-mutation loop run
 * inside a worker, for targets without an external engine (exec mode, long
 * soaks). Each iteration runs an abstract schedule (schedule.h) under
 * `input`: a fresh one (a base sampler with the iteration's seed) or a
 * mutation of one from the corpus, by the same code as the custom mutators.
 * A schedule whose run set feedback bits (rr__rf_hook) that no earlier run
 * of this worker set joins the corpus, with holds (schedule.h) that make
 * its children reach the event behind the rarest bit it set in the same
 * state; a new entry gets its first children before older ones are drawn
 * again. State is per worker process and
 * starts empty (a worker that ends in a finding takes its corpus along).
 * The choices are a function of the iteration seeds and the results, and
 * every failing iteration's schedule is complete in its reproducer.
 */
#ifndef RR_GREYBOX_H
#define RR_GREYBOX_H

#include "rr_internal.h"

/* The schedule of the next iteration, drawn with SEED, into OUT (at most
 * CAP bytes); returns its length. ROLES: the scenario's roles. */
uint32_t rr__greybox_next(uint64_t seed, const char *const *roles, uint8_t *out, uint32_t cap);
/* After an iteration that ran IN[0..N) and ended normally: keeps IN, with
 * its holds, when S set new feedback bits. Returns 1 when it was kept. */
int rr__greybox_result(const struct rr__sched *s, const uint8_t *in, uint32_t n);
/* Corpus size and feedback bits seen so far (for tests and progress). */
void rr__greybox_stats(uint32_t *entries, uint32_t *bits);
/* Forgets the corpus and the bits. */
void rr__greybox_reset(void);

#endif
