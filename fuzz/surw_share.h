/*
 * surw_share.h: surw's learned expectations, shared between an AFL++ fuzz
 * target and the schedule mutator that afl-fuzz loads.
 *
 * Why: surw weights each role by the named race points it is still expected
 * to take, learned from earlier iterations, and a schedule carries those
 * weights so that it replays anywhere. Under libFuzzer the mutator runs in
 * the target's own process and writes what that process learned into every
 * surw child (fuzz/libfuzzer.c). Under AFL++ the mutator runs inside
 * afl-fuzz and the target's state dies with each fork-server child, so
 * without this every surw child ran with no weights at all (uniform at the
 * named points) and AFL++ sampled a weaker surw than libFuzzer.
 *
 * How: the mutator (fuzz/afl_mutator.c) makes an anonymous shared file
 * (memfd) and passes it to the target through the environment as
 * RR_FUZZ_SURW_FD, which afl-fuzz hands on when it starts the target. Each
 * target child adds the totals to what it learns at its first input and
 * writes its totals back after every iteration; the mutator turns them into
 * expectations for the surw children it makes. The schedule, not the shared
 * file, is what replays: a crash file carries its expectations.
 */
#ifndef RR_SURW_SHARE_H
#define RR_SURW_SHARE_H

#include <stdint.h>

#include "schedule.h"

#define RR_SURW_SHARE_ENV "RR_FUZZ_SURW_FD"

/* Per role index of the scenario (at most RR_SCHED_EXPECTS roles): named
 * points summed over the iterations, and the iterations. One writer at a
 * time (afl-fuzz runs one target child at once); the mutator may read a
 * half-written pair, which only skews one weight of one child. */
struct rr__surw_share {
	uint64_t sum[RR_SCHED_EXPECTS];
	uint64_t n[RR_SCHED_EXPECTS];
};

/* The expectations the totals in SH give (rr__surw_expect_byte, as surw's
 * own): role indices and counts, at most RR_SCHED_EXPECTS. Returns how
 * many. */
static inline int rr__surw_share_read(const struct rr__surw_share *sh, uint8_t *role,
				      uint8_t *expect)
{
	int k = 0;
	for (int r = 0; r < RR_SCHED_EXPECTS; r++) {
		uint64_t n = __atomic_load_n(&sh->n[r], __ATOMIC_RELAXED);
		uint64_t sum = __atomic_load_n(&sh->sum[r], __ATOMIC_RELAXED);
		if (!n)
			continue;
		role[k] = (uint8_t)r;
		expect[k++] = rr__surw_expect_byte(sum, n);
	}
	return k;
}

#endif
