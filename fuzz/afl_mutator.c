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
 * surw children get the weights the target has learned so far, through a
 * shared file the library makes at start (fuzz/surw_share.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rr_internal.h"
#include "schedule.h"
#include "surw_share.h"

struct mutator {
	uint64_t rng;
	uint8_t *buf;
	size_t cap;
	struct rr__surw_share *share; /* NULL: surw children go without weights */
	int share_fd;
};

/* afl-fuzz starts its target after loading this library, with its own
 * environment: the descriptor (not close-on-exec) and its number reach
 * every target it starts. A failure costs only the weights: say so once. */
static void share_open(struct mutator *m)
{
	void *p = MAP_FAILED;
	char num[16];
	m->share_fd = memfd_create("racerepro-surw", 0);
	if (m->share_fd < 0 || ftruncate(m->share_fd, sizeof *m->share) < 0)
		goto unweighted;
	p = mmap(NULL, sizeof *m->share, PROT_READ, MAP_SHARED, m->share_fd, 0);
	snprintf(num, sizeof num, "%d", m->share_fd);
	if (p == MAP_FAILED || setenv(RR_SURW_SHARE_ENV, num, 1) < 0)
		goto unweighted;
	m->share = p;
	return;
unweighted:
	fprintf(stderr, "libschedule-mutator: no shared surw weights (%s); surw children run "
			"unweighted\n", strerror(errno));
	if (p != MAP_FAILED)
		munmap(p, sizeof *m->share);
}

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
	m->share_fd = -1;
	/* afl-fuzz has no channel for an error here but stderr and NULL. */
	if (rr__schedule_reseed_env() < 0) {
		fprintf(stderr, "libschedule-mutator: RR_FUZZ_RESEED must be 0..8\n");
		free(m);
		return NULL;
	}
	share_open(m);
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
	if (m->share) {
		uint8_t role[RR_SCHED_EXPECTS], expect[RR_SCHED_EXPECTS];
		int ne = rr__surw_share_read(m->share, role, expect);
		n = rr__schedule_with_expectations(m->buf, n, max_size, role, expect, ne);
	}
	*out_buf = m->buf;
	return n;
}

void afl_custom_deinit(void *data)
{
	struct mutator *m = data;
	if (m) {
		free(m->buf);
		if (m->share)
			munmap(m->share, sizeof *m->share);
		if (m->share_fd >= 0)
			close(m->share_fd);
	}
	free(m);
}
