/*
 * schedule.h: abstract schedules, the form a fuzzer's input takes.
 *
 * An abstract schedule is a base sampler (random, pct, surw or pos) with its
 * seed, plus a sparse list of overrides keyed by (thread role, k-th race
 * point that role takes) that force which role runs next there. Every
 * decision that no override names is the base sampler's, before and after
 * the last override, so every input is a whole, meaningful schedule (never
 * the non-preemptive default that short byte strings used to mean), and
 * changing one override changes one decision, not the meaning of every
 * decision after it.
 *
 * Roles are indices into the scenario's roles list (taken modulo its
 * length when applied), so that the binary form needs no names.
 *
 * The binary form (what libFuzzer and AFL++ mutate), little-endian; any byte
 * string decodes (missing bytes read as zero, a partial record at the end is
 * ignored), so every input a fuzzer makes is valid:
 *   [0]      base sampler: byte % 4 -> random, pct, surw, pos
 *   [1..8]   the base sampler's seed
 *   [9]      pct depth: 2 + byte % 4
 *   [10..11] pct steps (0: 32)
 *   [12]     n: surw expectations that follow (byte % 17)
 *   n x 2    (role, expected named points): surw's weights, carried in the
 *            input so that it replays without what a process learned
 *   4 each   overrides: role, k (2 bytes), target role
 *   then, optionally, the four bytes ff ff ff ff (an override no mutator
 *   makes: roles are below 16) and holds, 6 bytes each: role, k (2 bytes),
 *   until_role, until_k (2 bytes)
 */
#ifndef RR_SCHEDULE_H
#define RR_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

struct rr__sched;

#define RR_MAX_OVERRIDES 128
#define RR_SCHED_EXPECTS 16
#define RR_SCHED_HEADER 13

struct rr__override {
	uint8_t role;   /* whose k-th race point */
	uint8_t target; /* the role that runs next there */
	uint16_t k;
};

/* A hold: ROLE does not pass its K-th race point (0-based) until UNTIL_ROLE
 * has passed its UNTIL_K-th, unless nothing else could run. The greybox
 * loop's children inherit a kept schedule's interleaving through these: the
 * ordering at the event behind the rarest feedback bit its run set, kept as
 * constraints, while the base sampler varies the rest. */
struct rr__hold {
	uint8_t role;
	uint8_t until_role;
	uint16_t k;
	uint16_t until_k;
};

#define RR_MAX_HOLDS 48

struct rr__abstract {
	int base; /* RR_STRAT_RANDOM, _PCT, _SURW or _POS */
	uint64_t seed;
	uint8_t pct_depth;
	uint16_t pct_steps;
	uint8_t nexpect;
	uint8_t expect_role[RR_SCHED_EXPECTS];
	uint8_t expect[RR_SCHED_EXPECTS];
	uint16_t nover;
	struct rr__override over[RR_MAX_OVERRIDES];
	uint16_t nhold;
	struct rr__hold hold[RR_MAX_HOLDS];
};

/* The base samplers, in the order of the header's first byte. */
extern const int rr__schedule_bases[4];

/* Decodes any byte string into A. */
void rr__schedule_decode(const uint8_t *data, size_t size, struct rr__abstract *a);
/* Encodes A into OUT; returns the length (at most CAP; overrides that do
 * not fit are left out). */
size_t rr__schedule_encode(const struct rr__abstract *a, uint8_t *out, size_t cap);

/* Mutates the schedule in DATA[0..SIZE) in place (at most MAX bytes) with
 * the structure-aware operators: insert, delete or retarget an override,
 * move one to a neighbouring k, reseed or change the base sampler; then
 * (see rr__schedule_reseed) a fresh base seed. NROLES:
 * the scenario's role count (0: unknown, 16 assumed). Deterministic in SEED.
 * Returns the new size; the result always decodes (every byte string
 * does) and is canonical (encode(decode(result)) == result). */
size_t rr__schedule_mutate(uint8_t *data, size_t size, size_t max, uint64_t seed, int nroles);
/* How many of 8 mutated children draw a fresh base seed (0..8; default 8:
 * all). The fuzz targets set it from RR_FUZZ_RESEED, to measure what
 * keeping the parent's seed (a near neighbour) buys with feedback. A child of
 * an input shorter than the header gets a surw header and always a fresh
 * seed (it has none to keep). */
extern int rr__schedule_reseed;
/* Sets rr__schedule_reseed from RR_FUZZ_RESEED when set; -1: not 0..8. */
int rr__schedule_reseed_env(void);
/* The base sampler of every schedule the mutator and greybox make
 * (RR_STRAT_RANDOM, _PCT, _SURW or _POS), or -1 (the default): the children
 * of a header-less input start from surw, the "another base sampler"
 * operator picks among the four, and greybox's fresh schedules too. Fixed,
 * every child gets it (the operator then only changes pct's depth): an
 * ablation knob, to measure what the feedback steers where the base sampler
 * alone is weak (random and pct find nothing in 3,000 iterations on the hard
 * cell at N = 12, surw finds it in about 13). */
extern int rr__schedule_base;
/* Sets rr__schedule_base from the environment variable VAR (random, pct,
 * surw or pos; unset or empty: unchanged). Returns 0, or -1 for another
 * value. libfuzzer.c reads RR_FUZZ_BASE, `run --strategy greybox`
 * RR_GREYBOX_BASE. */
int rr__schedule_base_env(const char *var);
/* A child of A and B: A's header, and the overrides of A before a cut point
 * and of B after it. Deterministic in SEED. Returns its size (<= MAX). */
size_t rr__schedule_cross(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, uint8_t *out,
			  size_t max, uint64_t seed);
/* Holds, from a run to the schedules made from it. The run S took its race
 * point CUT (an index into S->cut); the holds added to A make that event
 * happen again between the same two steps of every other thread that stood
 * between two of its steps there (after the step it had taken last, before
 * the one it stood at), and before the first step of every thread that had
 * not taken one. A thread that had ended is left free, so that the children
 * can move it (the next step of a search for an ordering bug is often one
 * more thread held back). Only roles that one thread has are held (a role
 * index names a thread only then). A hold on the same (role, point, until
 * role) is replaced; the oldest go when A is full. */
void rr__schedule_hold_event(const struct rr__sched *s, uint32_t cut, struct rr__abstract *a);
/* The event to hold: the one that set S's rarest feedback bit (HITS[bit]:
 * the runs so far that set it, S included; that bit in *BIT), or with HITS
 * NULL any race point of S, drawn from RNG (the feedback-off arms). Returns
 * an index into S->cut, or -1 when S logged none. */
int rr__schedule_pick_event(const struct rr__sched *s, const uint32_t *hits, uint64_t *rng,
			    uint16_t *bit);

/* surw's expected named points of a role that took SUM points over N
 * iterations (N > 0): rounded up, so that a role seen taking 2 or 3 counts as
 * 3 and is not starved early, and capped to the schedule's byte. */
static inline uint8_t rr__surw_expect_byte(uint64_t sum, uint64_t n)
{
	uint64_t e = (sum + n - 1) / n;
	return (uint8_t)(e > 255 ? 255 : e);
}
/* surw's weights must travel in the schedule itself for it to replay
 * anywhere: a schedule in DATA[0..SIZE) whose base is surw and that carries
 * no expectations gets the COUNT pairs ROLE[i]/EXPECT[i] (what the mutating
 * process has learned). Returns the new size (SIZE when nothing changed). */
size_t rr__schedule_with_expectations(uint8_t *data, size_t size, size_t max,
				      const uint8_t *role, const uint8_t *expect, int count);

#endif
