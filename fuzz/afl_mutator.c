/*
 * afl_mutator.c: the AFL++ custom mutator library for the scenarios' fuzz
 * targets (AFL_CUSTOM_MUTATOR_LIBRARY=build/fuzz/afl/libschedule-mutator.so).
 * Inputs are abstract schedules (harness/schedule.h); this library inserts,
 * deletes, retargets and moves overrides and reseeds or changes the base
 * sampler, with the same code as the libFuzzer custom mutator and the
 * greybox loop. It exports no trimming hooks, and scripts/fuzz.sh runs with
 * AFL_DISABLE_TRIM=1: AFL++'s byte trimming would cut overrides in half and
 * shift the ones after the cut. Role indices are taken modulo the scenario's
 * role count when the schedule runs, so the library needs no scenario.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rr_internal.h"
#include "schedule.h"

struct mutator {
	uint64_t rng;
	uint8_t *buf;
	size_t cap;
};

void *afl_custom_init(void *afl, unsigned int seed);
size_t afl_custom_fuzz(void *data, uint8_t *buf, size_t buf_size, uint8_t **out_buf,
		       uint8_t *add_buf, size_t add_buf_size, size_t max_size);
void afl_custom_deinit(void *data);

void *afl_custom_init(void *afl, unsigned int seed)
{
	(void)afl;
	struct mutator *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->rng = seed ? seed : 1;
	/* afl-fuzz has no channel for an error here but stderr and NULL. */
	if (rr__schedule_reseed_env() < 0) {
		fprintf(stderr, "libschedule-mutator: RR_FUZZ_RESEED must be 0..8\n");
		free(m);
		return NULL;
	}
	return m;
}

/* One child: a crossover with AFL++'s second input (when it gives one) now
 * and then, then a structured mutation. */
size_t afl_custom_fuzz(void *data, uint8_t *buf, size_t buf_size, uint8_t **out_buf,
		       uint8_t *add_buf, size_t add_buf_size, size_t max_size)
{
	struct mutator *m = data;
	if (max_size > RR_MAX_SCHEDULE)
		max_size = RR_MAX_SCHEDULE;
	if (m->cap < max_size) {
		uint8_t *nb = realloc(m->buf, max_size);
		if (!nb) {
			*out_buf = buf;
			return buf_size;
		}
		m->buf = nb;
		m->cap = max_size;
	}
	uint64_t s = rr__splitmix64(&m->rng);
	size_t n;
	if (add_buf && add_buf_size && (s & 7) == 0) {
		n = rr__schedule_cross(buf, buf_size, add_buf, add_buf_size, m->buf, max_size, s);
	} else {
		n = buf_size < max_size ? buf_size : max_size;
		memcpy(m->buf, buf, n);
	}
	n = rr__schedule_mutate(m->buf, n, max_size, rr__splitmix64(&m->rng), 0);
	*out_buf = m->buf;
	return n;
}

void afl_custom_deinit(void *data)
{
	struct mutator *m = data;
	if (m)
		free(m->buf);
	free(m);
}
