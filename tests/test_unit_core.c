/*
 * test_unit_core.c: unit tests of the harness's parsers, seeds, reproducer
 * format, strategies and oracle, linked against the engine's objects.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evidence.h"
#include "greybox.h"
#include "repro.h"
#include "report.h"
#include "strategy.h"
#include "testlib.h"

static void test_parse_duration(void **state)
{
	(void)state;
	uint64_t ns;
	assert_int_equal(rr__parse_duration("30s", &ns), 0);
	assert_true(ns == 30000000000ull);
	assert_int_equal(rr__parse_duration("90", &ns), 0);
	assert_true(ns == 90000000000ull);
	assert_int_equal(rr__parse_duration("500ms", &ns), 0);
	assert_true(ns == 500000000ull);
	assert_int_equal(rr__parse_duration("5m", &ns), 0);
	assert_true(ns == 300000000000ull);
	assert_int_equal(rr__parse_duration("2h", &ns), 0);
	assert_true(ns == 7200000000000ull);
	static const char *const bad[] = {"", "s", "-1s", "5x", "0", "0s", "1e400", "3 s", "1h2",
					  "nan", NULL};
	for (int i = 0; bad[i]; i++)
		if (rr__parse_duration(bad[i], &ns) == 0)
			fail_msg("duration '%s' was accepted", bad[i]);
	assert_int_equal(rr__parse_duration(NULL, &ns), -1);
}

static void test_parse_u64(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(rr__parse_u64("42", &v), 0);
	assert_true(v == 42);
	assert_int_equal(rr__parse_u64("0x2a", &v), 0);
	assert_true(v == 42);
	assert_int_equal(rr__parse_u64("0xffffffffffffffff", &v), 0);
	assert_true(v == UINT64_MAX);
	static const char *const bad[] = {"", "-1", " 1", "1x", "0x", "99999999999999999999", NULL};
	for (int i = 0; bad[i]; i++)
		if (rr__parse_u64(bad[i], &v) == 0)
			fail_msg("number '%s' was accepted", bad[i]);
}

static void test_iteration_seeds_are_stable_and_distinct(void **state)
{
	(void)state;
	/* The same run seed and index give the same timing seed on every run;
	 * reproducers depend on it. */
	assert_true(rr__iteration_seed(1, 0) == rr__iteration_seed(1, 0));
	assert_true(rr__iteration_seed(1, 0) != rr__iteration_seed(1, 1));
	assert_true(rr__iteration_seed(1, 5) != rr__iteration_seed(2, 5));
	uint64_t st = 7, a = rr__splitmix64(&st), b = rr__splitmix64(&st);
	assert_true(a != b);
	st = 7;
	assert_true(rr__splitmix64(&st) == a);
}

static void test_repro_roundtrip(void **state)
{
	(void)state;
	struct rr__repro r, back;
	memset(&r, 0, sizeof r);
	strcpy(r.scenario, "broken_pipe");
	strcpy(r.variant, "buggy");
	strcpy(r.strategy, "pct");
	r.seed = 0xdeadbeefcafef00dull;
	r.pct_depth = 3;
	r.pct_steps = 24;
	r.nschedule = 3;
	r.schedule[0] = 0;
	r.schedule[1] = 0xff;
	r.schedule[2] = 7;
	strcpy(r.build, "tsan");
	strcpy(r.signature, "bug:write(m_post_fd, &buffer, 1): Broken pipe");
	r.params.n = 1;
	strcpy(r.params.names[0], "work_us");
	strcpy(r.params.values[0], "20");
	char path[600];
	snprintf(path, sizeof path, "%s/x.repro", rrt_tmpdir());
	assert_int_equal(rr__repro_write(path, &r), 0);
	char err[256];
	assert_int_equal(rr__repro_read(path, &back, err, sizeof err), 0);
	assert_string_equal(back.scenario, r.scenario);
	assert_string_equal(back.strategy, "pct");
	assert_true(back.seed == r.seed);
	assert_int_equal(back.pct_depth, 3);
	assert_int_equal(back.pct_steps, 24);
	assert_int_equal(back.nschedule, 3);
	assert_memory_equal(back.schedule, r.schedule, 3);
	assert_string_equal(back.signature, r.signature);
	assert_string_equal(back.params.values[0], "20");
	/* surw's expectations travel with the seed. */
	strcpy(r.strategy, "surw");
	strcpy(r.surw_expect, "loop=3 async=12");
	assert_int_equal(rr__repro_write(path, &r), 0);
	assert_int_equal(rr__repro_read(path, &back, err, sizeof err), 0);
	assert_string_equal(back.strategy, "surw");
	assert_string_equal(back.surw_expect, "loop=3 async=12");
}

/* Found by the parser fuzz target: a full-length schedule must read back,
 * and a pct reproducer without depth or steps must round-trip. */
static void test_repro_roundtrip_edges(void **state)
{
	(void)state;
	static struct rr__repro r, back;
	memset(&r, 0, sizeof r);
	strcpy(r.scenario, "broken_pipe");
	strcpy(r.variant, "buggy");
	strcpy(r.strategy, "input");
	strcpy(r.build, "none");
	strcpy(r.signature, "bug:x");
	r.nschedule = RR_MAX_SCHEDULE;
	for (uint32_t i = 0; i < r.nschedule; i++)
		r.schedule[i] = (uint8_t)(i * 7);
	char path[600], err[256];
	snprintf(path, sizeof path, "%s/long.repro", rrt_tmpdir());
	assert_int_equal(rr__repro_write(path, &r), 0);
	if (rr__repro_read(path, &back, err, sizeof err) != 0)
		fail_msg("a full schedule does not read back: %s", err);
	assert_int_equal(back.nschedule, RR_MAX_SCHEDULE);
	assert_memory_equal(back.schedule, r.schedule, RR_MAX_SCHEDULE);
	strcpy(r.strategy, "pct");
	r.nschedule = 0;
	assert_int_equal(rr__repro_write(path, &r), 0);
	if (rr__repro_read(path, &back, err, sizeof err) != 0)
		fail_msg("pct without depth does not read back: %s", err);
	assert_int_equal(back.pct_depth, 0);
}

static void expect_parse_error(const char *text, const char *what)
{
	struct rr__repro r;
	char err[256] = "";
	if (rr__repro_parse(text, strlen(text), &r, err, sizeof err) == 0)
		fail_msg("accepted: %s", text);
	if (!strstr(err, what))
		fail_msg("error '%s' does not say '%s'", err, what);
}

static void test_repro_errors_name_the_line(void **state)
{
	(void)state;
	expect_parse_error("", "line 1");
	expect_parse_error("racerepro-repro 4\n", "version");
	/* Version 2 lines belong to version 2 and to strategy input. */
	expect_parse_error("racerepro-repro 1\nbase surw\n", "line 2");
	expect_parse_error("racerepro-repro 2\nbase bogus\n", "line 2");
	expect_parse_error("racerepro-repro 2\noverride a 1\n", "line 2");
	expect_parse_error("racerepro-repro 1\nscenario x\n", "truncated");
	expect_parse_error("racerepro-repro 1\nscenario x\nseed zz\n", "line 3");
	expect_parse_error("racerepro-repro 1\nstrategy portfolio\n", "line 2");
	expect_parse_error("racerepro-repro 1\nschedule 0\n", "line 2");
	expect_parse_error("racerepro-repro 1\nbuild msan\n", "line 2");
	expect_parse_error("racerepro-repro 1\nparam =1\n", "line 2");
	expect_parse_error("racerepro-repro 1\npct-depth 0\n", "line 2");
	expect_parse_error("racerepro-repro 1\nsurw-expect loop\n", "line 2");
	expect_parse_error("racerepro-repro 1\nsurw-expect loop=3 =4\n", "line 2");
	expect_parse_error("racerepro-repro 1\nsurw-expect loop=3x\n", "line 2");
}

static struct rr__sched sched_for_test;

static void test_input_strategy_consumes_bytes_then_defaults(void **state)
{
	(void)state;
	struct rr__sched *s = &sched_for_test;
	memset(s, 0, sizeof *s);
	s->strategy = RR_STRAT_INPUT;
	s->input[0] = 1;
	s->input[1] = 5;
	s->ninput = 2;
	int runnable[3] = {0, 1, 2};
	assert_int_equal(rr__strategy_choose(s, runnable, 3, 1), 1);
	assert_int_equal(rr__strategy_choose(s, runnable, 3, 1), 2); /* 5 % 3 */
	/* Out of bytes: the current thread keeps running. */
	assert_int_equal(rr__strategy_choose(s, runnable, 3, 1), 0);
	assert_int_equal(rr__strategy_choose(s, runnable, 3, 1), 0);
}

static int pct_sequence(uint64_t seed, int *out, int n)
{
	struct rr__sched *s = &sched_for_test;
	memset(s, 0, sizeof *s);
	s->strategy = RR_STRAT_PCT;
	s->seed = s->rng = seed;
	s->pct_depth = 3;
	s->pct_steps = 10;
	rr__strategy_begin(s);
	for (int i = 0; i < 3; i++)
		rr__strategy_thread_added(s, i);
	int runnable[3] = {0, 1, 2};
	for (int i = 0; i < n; i++) {
		out[i] = rr__strategy_choose(s, runnable, 3, 1);
		s->ndecisions++;
	}
	return 0;
}

static void test_pct_is_a_function_of_its_seed(void **state)
{
	(void)state;
	int a[20], b[20], c[20];
	pct_sequence(99, a, 20);
	pct_sequence(99, b, 20);
	assert_memory_equal(a, b, sizeof a);
	int differs = 0;
	for (uint64_t seed = 1; seed < 50 && !differs; seed++) {
		pct_sequence(seed, c, 20);
		differs = memcmp(a, c, sizeof a) != 0;
	}
	assert_true(differs);
}

static void test_strategy_names(void **state)
{
	(void)state;
	for (int i = 0; i < RR_NSTRATEGIES; i++)
		assert_int_equal(rr__strategy_parse(rr__strategy_names[i]), i);
	assert_int_equal(rr__strategy_parse("bogus"), -1);
	assert_true(rr__strategy_controlled(RR_STRAT_PCT));
	assert_false(rr__strategy_controlled(RR_STRAT_NOISE));
	assert_true(rr__strategy_controlled(RR_STRAT_SURW));
	assert_true(rr__strategy_controlled(RR_STRAT_POS));
	/* Before any failure, portfolio rotates its five arms. */
	assert_int_equal(rr__portfolio_pick(0, NULL, NULL), RR_STRAT_NOISE);
	assert_int_equal(rr__portfolio_pick(1, NULL, NULL), RR_STRAT_RANDOM);
	assert_int_equal(rr__portfolio_pick(2, NULL, NULL), RR_STRAT_PCT);
	assert_int_equal(rr__portfolio_pick(3, NULL, NULL), RR_STRAT_SURW);
	assert_int_equal(rr__portfolio_pick(4, NULL, NULL), RR_STRAT_POS);
	assert_int_equal(rr__portfolio_pick(5, NULL, NULL), RR_STRAT_NOISE);
}

/* The bandit, fed a cell where surw hits on every 8th play, pct on every
 * 40th and the others never: surw gets the most plays, pct more than the
 * arms that never hit, and every arm keeps being tried. The same feed gives
 * the same picks. */
static void bandit_run(int *picks, int n, uint64_t *plays, uint64_t *wins)
{
	memset(plays, 0, RR_NSTRATEGIES * sizeof *plays);
	memset(wins, 0, RR_NSTRATEGIES * sizeof *wins);
	for (int i = 0; i < n; i++) {
		int a = rr__portfolio_pick((uint64_t)i, plays, wins);
		picks[i] = a;
		plays[a]++;
		if ((a == RR_STRAT_SURW && plays[a] % 8 == 0) ||
		    (a == RR_STRAT_PCT && plays[a] % 40 == 0))
			wins[a]++;
	}
}

static void test_portfolio_bandit_favours_what_hits(void **state)
{
	(void)state;
	static int a[3000], b[3000];
	uint64_t plays[RR_NSTRATEGIES], wins[RR_NSTRATEGIES];
	bandit_run(b, 3000, plays, wins);
	bandit_run(a, 3000, plays, wins);
	assert_memory_equal(a, b, sizeof a);
	for (int i = 0; i < rr__portfolio_narms; i++) {
		int arm = rr__portfolio_arms[i];
		assert_true(plays[arm] >= 10);
		if (arm != RR_STRAT_SURW)
			assert_true(plays[RR_STRAT_SURW] > 2 * plays[arm]);
	}
	assert_true(plays[RR_STRAT_PCT] > plays[RR_STRAT_RANDOM]);
	assert_true(plays[RR_STRAT_SURW] > 3000 / 2);
}

static void sched_reset(struct rr__sched *s, int strategy, uint64_t seed, int nslots)
{
	memset(s, 0, sizeof *s);
	s->strategy = strategy;
	s->controlled = 1;
	s->seed = s->rng = seed;
	s->nslots = nslots;
	rr__strategy_begin(s);
	for (int i = 0; i < nslots; i++) {
		snprintf(s->slots[i].role, sizeof s->slots[i].role, "r%d", i);
		s->slots[i].state = RR_SLOT_RUNNABLE;
		rr__strategy_thread_added(s, i);
	}
}

/* POS: a step on object X gives fresh priorities to the threads about to
 * touch X and to the thread that took it; a thread waiting on Y keeps its
 * priority. */
static void test_pos_reorders_only_conflicting_threads(void **state)
{
	(void)state;
	struct rr__sched *s = &sched_for_test;
	sched_reset(s, RR_STRAT_POS, 5, 3);
	int x, y;
	s->slots[0].obj_done = (uint64_t)(uintptr_t)&x;
	s->slots[1].obj = (uint64_t)(uintptr_t)&x;
	s->slots[2].obj = (uint64_t)(uintptr_t)&y;
	uint64_t p0 = s->slots[0].priority, p1 = s->slots[1].priority,
		 p2 = s->slots[2].priority;
	s->current = 0;
	rr__strategy_step(s);
	assert_true(s->slots[0].priority != p0);
	assert_true(s->slots[1].priority != p1);
	assert_true(s->slots[2].priority == p2);
	/* The choice is the highest priority among the runnable. */
	int runnable[3] = {0, 1, 2}, best = 0;
	for (int i = 1; i < 3; i++)
		if (s->slots[i].priority > s->slots[best].priority)
			best = i;
	assert_int_equal(rr__strategy_choose(s, runnable, 3, 1), best);
}

/* SURW: threads at wrapper points run first; among threads at named points
 * the draw follows the named points each is expected still to take. */
static void test_surw_weights_by_remaining_named_points(void **state)
{
	(void)state;
	struct rr__sched *s = &sched_for_test;
	assert_int_equal(rr__surw_preset("r0=1 r1=9 r2=5"), 0);
	sched_reset(s, RR_STRAT_SURW, 77, 3);
	assert_int_equal(s->nsurw, 3);
	assert_int_equal(s->slots[1].surw_expect, 9);
	int runnable[3] = {0, 1, 2};
	s->slots[0].at_named = s->slots[1].at_named = 1;
	for (int i = 0; i < 200; i++) /* r2 stands at a wrapper point */
		assert_int_equal(rr__strategy_choose(s, runnable, 3, 1), 2);
	s->slots[2].at_named = 1;
	for (int i = 0; i < 3; i++)
		s->slots[i].named = 1;
	int count[3] = {0, 0, 0};
	for (int i = 0; i < 15000; i++)
		count[rr__strategy_choose(s, runnable, 3, 1)]++;
	/* Weights 1 : 9 : 5 (the point each stands at and those after it). */
	assert_true(count[1] > count[2] && count[2] > count[0]);
	assert_true(count[0] > 500 && count[0] < 1500);
	char spec[128];
	rr__surw_format(s, spec, sizeof spec);
	assert_string_equal(spec, "r0=1 r1=9 r2=5");
	assert_int_equal(rr__surw_preset("r0=x"), -1);
	assert_int_equal(rr__surw_preset(NULL), 0);
}

/* Reads-from feedback: threads A and B under random with a fixed seed. A
 * touches x then y; B touches x, or an unrelated z. The map is a function of
 * the seed, and pairs across different objects are left out, so B on z sets
 * fewer bits than B on x. */
static int rf_x, rf_y, rf_z;
static const void *rf_b_obj;

static void *rf_thread_a(void *arg)
{
	(void)arg;
	rr_point_on("a.first", &rf_x);
	rr_point_on("a.second", &rf_y);
	return NULL;
}

static void *rf_thread_b(void *arg)
{
	(void)arg;
	rr_point_on("b.only", rf_b_obj);
	rr_point_on("b.only", rf_b_obj);
	return NULL;
}

static uint32_t rf_run(uint64_t seed, const void *b_obj, uint8_t *map)
{
	struct rr__sched *s = &sched_for_test;
	rf_b_obj = b_obj;
	rr__sched_begin(s, RR_STRAT_RANDOM, seed, NULL, 0, 0, 0, "main");
	struct rr_thread *a = rr_thread_start("a", rf_thread_a, NULL);
	struct rr_thread *b = rr_thread_start("b", rf_thread_b, NULL);
	rr_thread_join(a);
	rr_thread_join(b);
	rr__sched_end(s);
	memcpy(map, s->rf_map, sizeof s->rf_map);
	uint32_t bits = 0;
	for (size_t i = 0; i < sizeof s->rf_map; i++)
		bits += (uint32_t)__builtin_popcount(s->rf_map[i]);
	assert_int_equal(bits, s->rf_count);
	return bits;
}

static void test_reads_from_map_pairs_same_object_steps(void **state)
{
	(void)state;
	static uint8_t m1[RR_RF_BITS / 8], m2[RR_RF_BITS / 8];
	(void)rf_z;
	uint32_t total_same = 0, total_diff = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		uint32_t n1 = rf_run(seed, &rf_x, m1);
		uint32_t n2 = rf_run(seed, &rf_x, m2);
		assert_int_equal(n1, n2);
		assert_memory_equal(m1, m2, sizeof m1);
		total_same += n1;
		total_diff += rf_run(seed, &rf_z, m2);
	}
	assert_true(total_same > 0);
	assert_true(total_diff < total_same);
}

/* Abstract schedules: encode/decode is the identity on what encode makes;
 * any byte string decodes; the mutator and crossover always produce a
 * canonical, decodable schedule within the size limit, and are functions of
 * their seed. */
static void test_abstract_schedule_encode_decode(void **state)
{
	(void)state;
	static struct rr__abstract a, b;
	static uint8_t buf[RR_MAX_SCHEDULE], again[RR_MAX_SCHEDULE];
	memset(&a, 0, sizeof a);
	a.base = RR_STRAT_SURW;
	a.seed = 0x0123456789abcdefull;
	a.pct_depth = 4;
	a.pct_steps = 700;
	a.nexpect = 2;
	a.expect_role[0] = 1;
	a.expect[0] = 3;
	a.expect_role[1] = 2;
	a.expect[1] = 250;
	a.nover = 3;
	a.over[0] = (struct rr__override){.role = 1, .k = 2, .target = 0};
	a.over[1] = (struct rr__override){.role = 0, .k = 513, .target = 2};
	a.over[2] = (struct rr__override){.role = 2, .k = 0, .target = 1};
	size_t n = rr__schedule_encode(&a, buf, sizeof buf);
	assert_int_equal(n, RR_SCHED_HEADER + 2 * 2 + 3 * 4);
	rr__schedule_decode(buf, n, &b);
	assert_int_equal(b.base, RR_STRAT_SURW);
	assert_true(b.seed == a.seed);
	assert_int_equal(b.pct_depth, 4);
	assert_int_equal(b.pct_steps, 700);
	assert_int_equal(b.nexpect, 2);
	assert_int_equal(b.expect[1], 250);
	assert_int_equal(b.nover, 3);
	assert_memory_equal(b.over, a.over, 3 * sizeof a.over[0]);
	/* Short and empty inputs are whole schedules: random, seed 0. */
	rr__schedule_decode(buf, 0, &b);
	assert_int_equal(b.base, RR_STRAT_RANDOM);
	assert_int_equal(b.nover, 0);
	/* Any bytes decode, and re-encode to a fixed point. */
	uint64_t rng = 42;
	for (int t = 0; t < 2000; t++) {
		size_t len = rr__splitmix64(&rng) % 200;
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rr__splitmix64(&rng);
		rr__schedule_decode(buf, len, &a);
		assert_true(a.nexpect <= RR_SCHED_EXPECTS && a.pct_depth >= 2 && a.pct_depth <= 5);
		n = rr__schedule_encode(&a, buf, sizeof buf);
		rr__schedule_decode(buf, n, &b);
		assert_int_equal(rr__schedule_encode(&b, again, sizeof again), n);
		assert_memory_equal(buf, again, n);
	}
}

static void test_schedule_mutator_output_is_valid(void **state)
{
	(void)state;
	static uint8_t cur[512], copy[512], other[512], out[512], again[512];
	static struct rr__abstract a;
	size_t n = 0, max = sizeof cur;
	uint64_t rng = 7;
	int inserted = 0, reseeded = 0;
	for (int t = 0; t < 5000; t++) {
		uint64_t seed = rr__splitmix64(&rng);
		uint64_t before = 0;
		rr__schedule_decode(cur, n, &a);
		before = a.seed;
		uint16_t nover = a.nover;
		memcpy(copy, cur, n);
		size_t m = rr__schedule_mutate(cur, n, max, seed, 3);
		size_t m2 = rr__schedule_mutate(copy, n, max, seed, 3);
		assert_int_equal(m, m2); /* a function of its seed */
		assert_memory_equal(cur, copy, m);
		assert_true(m >= RR_SCHED_HEADER && m <= max);
		rr__schedule_decode(cur, m, &a);
		assert_int_equal((m - RR_SCHED_HEADER - 2u * a.nexpect) % 4, 0);
		assert_int_equal(rr__schedule_encode(&a, again, sizeof again), m);
		assert_memory_equal(cur, again, m); /* canonical */
		for (int i = 0; i < a.nover; i++)
			assert_true(a.over[i].role < 3 && a.over[i].target < 3);
		inserted |= a.nover > nover;
		reseeded |= a.seed != before;
		n = m;
		/* crossover with a mutated copy */
		memcpy(other, cur, n);
		size_t on = rr__schedule_mutate(other, n, max, seed ^ 1, 3);
		size_t cn = rr__schedule_cross(cur, n, other, on, out, max, seed);
		assert_true(cn >= RR_SCHED_HEADER && cn <= max);
		rr__schedule_decode(out, cn, &a);
		assert_int_equal(rr__schedule_encode(&a, again, sizeof again), cn);
		assert_memory_equal(out, again, cn);
	}
	assert_true(inserted && reseeded);
}

/* The mutator's sampling policy: by default every child draws a fresh base
 * seed (each execution a new sample of its base sampler); with
 * rr__schedule_reseed = 0 most children keep their parent's seed (only the
 * reseed operator changes it) except those of an input shorter than the
 * header, which has no seed to keep; the children of such an input start
 * from surw (only the base-changing operator, 1 in 16 per
 * operation, can pick another); and RR_FUZZ_RESEED sets the policy or is
 * refused. */
static void test_schedule_mutator_reseeds_and_starts_surw(void **state)
{
	(void)state;
	static uint8_t parent[256], child[256];
	static struct rr__abstract a;
	memset(&a, 0, sizeof a);
	a.base = RR_STRAT_PCT;
	a.seed = 0x1234;
	a.pct_depth = 3;
	a.nover = 2;
	a.over[0] = (struct rr__override){.role = 1, .k = 2, .target = 0};
	a.over[1] = (struct rr__override){.role = 0, .k = 5, .target = 2};
	size_t n = rr__schedule_encode(&a, parent, sizeof parent);
	assert_int_equal(rr__schedule_reseed, 8);
	uint64_t rng = 99;
	int kept = 0, surw = 0;
	for (int t = 0; t < 1000; t++) {
		uint64_t seed = rr__splitmix64(&rng);
		memcpy(child, parent, n);
		size_t m = rr__schedule_mutate(child, n, sizeof child, seed, 3);
		rr__schedule_decode(child, m, &a);
		kept += a.seed == 0x1234;
		/* headerless parents: the empty input and one byte */
		m = rr__schedule_mutate(child, t % 2, sizeof child, seed, 3);
		rr__schedule_decode(child, m, &a);
		surw += a.base == RR_STRAT_SURW;
	}
	assert_int_equal(kept, 0);
	assert_true(surw >= 800);
	assert_true(surw < 1000); /* the base-changing operator still works */
	rr__schedule_reseed = 0;
	kept = 0;
	int zero = 0;
	for (int t = 0; t < 1000; t++) {
		memcpy(child, parent, n);
		size_t m = rr__schedule_mutate(child, n, sizeof child, rr__splitmix64(&rng), 3);
		rr__schedule_decode(child, m, &a);
		kept += a.seed == 0x1234;
		/* a header-less parent has no seed to keep: its children would
		 * all run seed 0 */
		m = rr__schedule_mutate(child, t % 2, sizeof child, rr__splitmix64(&rng), 3);
		rr__schedule_decode(child, m, &a);
		zero += a.seed == 0;
	}
	rr__schedule_reseed = 8;
	assert_true(kept >= 700 && kept < 1000);
	assert_int_equal(zero, 0);
	/* the environment switch */
	assert_int_equal(setenv("RR_FUZZ_RESEED", "3", 1), 0);
	assert_int_equal(rr__schedule_reseed_env(), 0);
	assert_int_equal(rr__schedule_reseed, 3);
	assert_int_equal(setenv("RR_FUZZ_RESEED", "9", 1), 0);
	assert_int_equal(rr__schedule_reseed_env(), -1);
	assert_int_equal(setenv("RR_FUZZ_RESEED", "8x", 1), 0);
	assert_int_equal(rr__schedule_reseed_env(), -1);
	assert_int_equal(unsetenv("RR_FUZZ_RESEED"), 0);
	rr__schedule_reseed = 8;
	assert_int_equal(rr__schedule_reseed_env(), 0);
	assert_int_equal(rr__schedule_reseed, 8);
}

/* The base-sampler knob (RR_FUZZ_BASE, RR_GREYBOX_BASE): fixed, every
 * mutated child and every fresh greybox schedule uses it, whatever its
 * parent's base and whether the parent has a header; unset, the header-less
 * start is surw and greybox's fresh schedules use all four; a name that is
 * not a base sampler is refused and changes nothing. */
static void test_schedule_base_knob_fixes_the_sampler(void **state)
{
	(void)state;
	static uint8_t parent[256], child[256];
	static struct rr__abstract a;
	memset(&a, 0, sizeof a);
	a.base = RR_STRAT_PCT;
	a.seed = 7;
	a.pct_depth = 3;
	size_t n = rr__schedule_encode(&a, parent, sizeof parent);
	assert_int_equal(rr__schedule_base, -1);
	assert_int_equal(setenv("RR_FUZZ_BASE", "random", 1), 0);
	assert_int_equal(rr__schedule_base_env("RR_FUZZ_BASE"), 0);
	assert_int_equal(rr__schedule_base, RR_STRAT_RANDOM);
	uint64_t rng = 5;
	int other = 0;
	for (int t = 0; t < 1000; t++) {
		memcpy(child, parent, n);
		size_t m = rr__schedule_mutate(child, n, sizeof child, rr__splitmix64(&rng), 3);
		rr__schedule_decode(child, m, &a);
		other += a.base != RR_STRAT_RANDOM;
		m = rr__schedule_mutate(child, t % 2, sizeof child, rr__splitmix64(&rng), 3);
		rr__schedule_decode(child, m, &a);
		other += a.base != RR_STRAT_RANDOM;
	}
	assert_int_equal(other, 0);
	static const char *const roles[] = {"main", "a", "b", NULL};
	int bases[RR_NSTRATEGIES] = {0};
	rr__greybox_reset();
	for (int t = 0; t < 200; t++) {
		uint32_t m = rr__greybox_next(rr__splitmix64(&rng), roles, child, sizeof child);
		rr__schedule_decode(child, m, &a);
		bases[a.base]++;
	}
	assert_int_equal(bases[RR_STRAT_RANDOM], 200);
	/* refused: the knob stays where it was */
	assert_int_equal(setenv("RR_FUZZ_BASE", "portfolio", 1), 0);
	assert_int_equal(rr__schedule_base_env("RR_FUZZ_BASE"), -1);
	assert_int_equal(rr__schedule_base, RR_STRAT_RANDOM);
	assert_int_equal(setenv("RR_FUZZ_BASE", "pct", 1), 0);
	assert_int_equal(rr__schedule_base_env("RR_FUZZ_BASE"), 0);
	assert_int_equal(rr__schedule_base, RR_STRAT_PCT);
	assert_int_equal(unsetenv("RR_FUZZ_BASE"), 0);
	assert_int_equal(rr__schedule_base_env("RR_FUZZ_BASE"), 0);
	assert_int_equal(rr__schedule_base, RR_STRAT_PCT);
	/* the default again: fresh greybox schedules start from surw (an
	 * empty corpus gives only fresh ones) */
	rr__schedule_base = -1;
	memset(bases, 0, sizeof bases);
	rr__greybox_reset();
	for (int t = 0; t < 200; t++) {
		uint32_t m = rr__greybox_next(rr__splitmix64(&rng), roles, child, sizeof child);
		rr__schedule_decode(child, m, &a);
		bases[a.base]++;
	}
	assert_int_equal(bases[RR_STRAT_SURW], 200);
	rr__greybox_reset();
}

/* A version-2 reproducer (input with an abstract schedule) round-trips, and
 * is written as version 2 while a version-1 one stays version 1. */
/* Holds (schedule.h): the binary form after the ff ff ff ff marker, kept by
 * the mutator, and written to a reproducer as version 3 by role name. */
static void test_holds_encode_decode_and_repro(void **state)
{
	(void)state;
	static struct rr__abstract a, b;
	static uint8_t buf[512];
	memset(&a, 0, sizeof a);
	a.base = RR_STRAT_RANDOM;
	a.seed = 7;
	a.pct_depth = 3;
	a.nover = 1;
	a.over[0] = (struct rr__override){.role = 1, .k = 0, .target = 2};
	a.nhold = 2;
	a.hold[0] = (struct rr__hold){.role = 2, .k = 1, .until_role = 1, .until_k = 1};
	a.hold[1] = (struct rr__hold){.role = 3, .k = 0, .until_role = 1, .until_k = 300};
	size_t n = rr__schedule_encode(&a, buf, sizeof buf);
	assert_int_equal(n, RR_SCHED_HEADER + 4 + 4 + 2 * 6);
	rr__schedule_decode(buf, n, &b);
	assert_int_equal(b.nover, 1);
	assert_int_equal(b.nhold, 2);
	assert_memory_equal(b.hold, a.hold, 2 * sizeof a.hold[0]);
	/* Without the marker there are no holds: version-2 inputs keep
	 * their meaning. */
	rr__schedule_decode(buf, RR_SCHED_HEADER + 4, &b);
	assert_int_equal(b.nhold, 0);
	/* The mutator passes them on. */
	static uint8_t child[512];
	for (uint64_t seed = 1; seed <= 50; seed++) {
		memcpy(child, buf, n);
		size_t m = rr__schedule_mutate(child, n, sizeof child, seed, 4);
		rr__schedule_decode(child, m, &b);
		assert_int_equal(b.nhold, 2);
		assert_memory_equal(b.hold, a.hold, 2 * sizeof a.hold[0]);
	}
	/* A reproducer names the roles and says version 3. */
	static const char *const roles[] = {"main", "checker", "setter-1", "setter-2", NULL};
	static struct rr__sched s;
	static struct rr__repro r, back;
	memset(&s, 0, sizeof s);
	rr__schedule_decode(buf, n, &s.abs);
	s.abs.hold[0].until_k = 5;
	memset(&r, 0, sizeof r);
	rr__schedule_to_repro(&s, roles, &r);
	strcpy(r.scenario, "test_reorder");
	strcpy(r.variant, "buggy");
	strcpy(r.strategy, "input");
	strcpy(r.build, "none");
	strcpy(r.signature, "bug:x");
	char path[600], err[256];
	snprintf(path, sizeof path, "%s/v3.repro", rrt_tmpdir());
	assert_int_equal(rr__repro_write(path, &r), 0);
	char *text = rrt_read_file(path);
	assert_true(!strncmp(text, "racerepro-repro 3\n", 18));
	assert_non_null(strstr(text, "\nhold setter-1 1 until checker 5\n"));
	assert_non_null(strstr(text, "\nhold setter-2 0 until checker 300\n"));
	free(text);
	assert_int_equal(rr__repro_read(path, &back, err, sizeof err), 0);
	static struct rr__abstract c;
	assert_int_equal(rr__schedule_from_repro(&back, roles, &c, err, sizeof err), 0);
	assert_int_equal(c.nhold, 2);
	assert_memory_equal(c.hold, s.abs.hold, 2 * sizeof c.hold[0]);
	static const char *const fewer[] = {"main", "checker", "setter-1", NULL};
	assert_int_equal(rr__schedule_from_repro(&back, fewer, &c, err, sizeof err), -1);
	assert_non_null(strstr(err, "hold names role 'setter-2'"));
	/* A malformed hold names its line; a hold in version 2 is unknown. */
	static const char bad[] = "racerepro-repro 3\nscenario test_reorder\nvariant buggy\n"
				  "strategy input\nbase random\nseed 0x7\nhold setter-1 1 after checker 1\n";
	assert_int_equal(rr__repro_parse(bad, sizeof bad - 1, &back, err, sizeof err), -1);
	assert_non_null(strstr(err, "line 7"));
	assert_non_null(strstr(err, "bad hold"));
	static const char v2[] = "racerepro-repro 2\nscenario test_reorder\nvariant buggy\n"
				 "strategy input\nbase random\nseed 0x7\nhold setter-1 1 until checker 1\n";
	assert_int_equal(rr__repro_parse(v2, sizeof v2 - 1, &back, err, sizeof err), -1);
	assert_non_null(strstr(err, "unknown key 'hold'"));
}

/* What a run passes on: at the event held, every other thread that stood
 * between two of its steps stays between them, a thread that had not begun
 * stays before its first step, and one that had ended is left free. */
static void test_hold_event_keeps_the_threads_between_their_steps(void **state)
{
	(void)state;
	static struct rr__sched s;
	static struct rr__abstract a;
	memset(&s, 0, sizeof s);
	memset(&a, 0, sizeof a);
	s.nroles = 6;
	s.nslots = 5; /* roles 0..4 ran; role 5 (setter-4) never started */
	static const uint32_t points[] = {3, 2, 2, 2, 2};
	for (int i = 0; i < 5; i++) {
		s.slots[i].role_idx = i;
		s.role_points[i] = points[i];
	}
	/* The checker (role 1) at its point #1: main had passed all 3 of its
	 * points (ended), setter-1 1 of 2 (between), setter-2 none (not
	 * begun), setter-3 both (ended). */
	s.ncut = 1;
	s.cut[0] = (struct rr__cut){.role = 1, .k = 1, .passed = {3, 1, 1, 0, 2}};
	rr__schedule_hold_event(&s, 0, &a);
	assert_int_equal(a.nhold, 3);
	assert_true(a.hold[0].role == 2 && a.hold[0].k == 1 && a.hold[0].until_role == 1 &&
		    a.hold[0].until_k == 1);
	assert_true(a.hold[1].role == 1 && a.hold[1].k == 1 && a.hold[1].until_role == 2 &&
		    a.hold[1].until_k == 0);
	assert_true(a.hold[2].role == 3 && a.hold[2].k == 0 && a.hold[2].until_role == 1 &&
		    a.hold[2].until_k == 1);
	/* The event held is the one behind the rarest bit; blind, any event. */
	s.ncut = 3;
	s.nrf_log = 3;
	s.rf_log[0] = (struct rr__rf_log){.bit = 10, .cut = 0};
	s.rf_log[1] = (struct rr__rf_log){.bit = 20, .cut = 2};
	s.rf_log[2] = (struct rr__rf_log){.bit = 30, .cut = 1};
	static uint32_t hits[RR_RF_BITS];
	hits[10] = 5;
	hits[20] = 1;
	hits[30] = 9;
	uint64_t rng = 1;
	uint16_t bit = 0;
	assert_int_equal(rr__schedule_pick_event(&s, hits, &rng, &bit), 2);
	assert_int_equal(bit, 20);
	int seen[3] = {0};
	for (int i = 0; i < 60; i++) {
		int cut = rr__schedule_pick_event(&s, NULL, &rng, &bit);
		assert_true(cut >= 0 && cut < 3);
		seen[cut] = 1;
	}
	assert_true(seen[0] && seen[1] && seen[2]);
	s.nrf_log = 0;
	assert_int_equal(rr__schedule_pick_event(&s, hits, &rng, &bit), -1);
}

static void test_repro_version2_roundtrip(void **state)
{
	(void)state;
	static struct rr__repro r, back;
	memset(&r, 0, sizeof r);
	strcpy(r.scenario, "broken_pipe");
	strcpy(r.variant, "buggy");
	strcpy(r.strategy, "input");
	strcpy(r.base, "surw");
	r.seed = 0xa1;
	strcpy(r.surw_expect, "loop=3 async=3");
	r.noverrides = 2;
	strcpy(r.overrides[0].role, "async");
	r.overrides[0].k = 2;
	strcpy(r.overrides[0].target, "loop");
	strcpy(r.overrides[1].role, "loop");
	r.overrides[1].k = 0;
	strcpy(r.overrides[1].target, "async");
	strcpy(r.build, "none");
	strcpy(r.signature, "bug:x");
	char path[600], err[256];
	snprintf(path, sizeof path, "%s/v2.repro", rrt_tmpdir());
	assert_int_equal(rr__repro_write(path, &r), 0);
	char *text = rrt_read_file(path);
	assert_true(!strncmp(text, "racerepro-repro 2\n", 18));
	assert_non_null(strstr(text, "override async 2 loop\n"));
	assert_null(strstr(text, "schedule"));
	free(text);
	assert_int_equal(rr__repro_read(path, &back, err, sizeof err), 0);
	assert_string_equal(back.base, "surw");
	assert_int_equal(back.noverrides, 2);
	assert_string_equal(back.overrides[0].target, "loop");
	assert_int_equal(back.overrides[0].k, 2);
	/* Names resolve against the scenario's roles, indices come back. */
	static const char *const roles[] = {"loop", "async", NULL};
	static struct rr__abstract a;
	assert_int_equal(rr__schedule_from_repro(&back, roles, &a, err, sizeof err), 0);
	assert_int_equal(a.base, RR_STRAT_SURW);
	assert_int_equal(a.nover, 2);
	assert_int_equal(a.over[0].role, 1);
	assert_int_equal(a.over[0].target, 0);
	assert_int_equal(a.nexpect, 2);
	static const char *const other[] = {"main", NULL};
	assert_int_equal(rr__schedule_from_repro(&back, other, &a, err, sizeof err), -1);
	/* Version 1 stays version 1. */
	memset(&r, 0, sizeof r);
	strcpy(r.scenario, "broken_pipe");
	strcpy(r.variant, "buggy");
	strcpy(r.strategy, "input");
	r.nschedule = 1;
	strcpy(r.build, "none");
	strcpy(r.signature, "bug:x");
	assert_int_equal(rr__repro_write(path, &r), 0);
	text = rrt_read_file(path);
	assert_true(!strncmp(text, "racerepro-repro 1\n", 18));
	free(text);
}

static struct rr__worker_shm shm_for_test;

static void test_oracle_reads_sanitizer_reports(void **state)
{
	(void)state;
	static const char asan[] =
		"=================================================================\n"
		"==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010 at pc "
		"0x1 bp 0x2 sp 0x3\n"
		"WRITE of size 8 at 0x602000000010 thread T1\n"
		"    #0 0x55d in __interceptor_memset ../../asan.cpp:1\n"
		"    #1 0x55e in on_completion scenarios/cancel_uaf.c:120\n"
		"    #2 0x55f in reaper_thread scenarios/cancel_uaf.c:200\n";
	static const char tsan[] = "==================\n"
				   "WARNING: ThreadSanitizer: data race (pid=5)\n"
				   "  Read of size 4 at 0x1 by main thread:\n"
				   "    #0 event_loop_run scenarios/broken_pipe.c:160 (racerepro+0x1)\n"
				   "    #1 broken_pipe_iterate scenarios/broken_pipe.c:200 (racerepro+0x2)\n";
	char sig[256], msg[512];
	memset(&shm_for_test, 0, sizeof shm_for_test);
	int st = 66 << 8; /* exited with the sanitizer code */
	assert_int_equal(rr__classify(st, 0, &shm_for_test, asan, sig, sizeof sig, msg, sizeof msg),
			 RR_SANITIZER);
	assert_string_equal(sig, "sanitizer:asan:heap-use-after-free:on_completion<reaper_thread");
	assert_non_null(strstr(msg, "heap-use-after-free"));
	assert_int_equal(rr__classify(st, 0, &shm_for_test, tsan, sig, sizeof sig, msg, sizeof msg),
			 RR_SANITIZER);
	assert_string_equal(sig,
			    "sanitizer:tsan:data race:event_loop_run<broken_pipe_iterate");
}

static void test_oracle_classifies_exits(void **state)
{
	(void)state;
	char sig[256], msg[512];
	memset(&shm_for_test, 0, sizeof shm_for_test);
	shm_for_test.finding = RR_BUG;
	strcpy(shm_for_test.message, "freed pipe 0x7f00deadbeef touched");
	assert_int_equal(rr__classify(65 << 8, 0, &shm_for_test, NULL, sig, sizeof sig, msg,
				      sizeof msg),
			 RR_BUG);
	/* Addresses differ between runs; the signature must not. */
	assert_string_equal(sig, "bug:freed pipe ADDR touched");
	assert_int_equal(rr__classify(SIGSEGV, 0, &shm_for_test, NULL, sig, sizeof sig, msg,
				      sizeof msg),
			 RR_CRASH);
	assert_string_equal(sig, "crash:SIGSEGV");
	assert_int_equal(rr__classify(SIGKILL, 1, &shm_for_test, NULL, sig, sizeof sig, msg,
				      sizeof msg),
			 RR_HANG);
	assert_int_equal(rr__classify(68 << 8, 0, &shm_for_test, NULL, sig, sizeof sig, msg,
				      sizeof msg),
			 RR_ERROR);
}

static void test_json_escape(void **state)
{
	(void)state;
	char out[64];
	assert_string_equal(rr__json_escape("a\"b\\c\nd\x01", out, sizeof out),
			    "a\\\"b\\\\c\\nd\\u0001");
	/* Truncation never leaves half a UTF-8 sequence or half an escape. */
	char small[8];
	rr__json_escape("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", small, sizeof small);
	json_error_t e;
	char doc[32];
	snprintf(doc, sizeof doc, "\"%s\"", small);
	json_t *j = json_loads(doc, JSON_DECODE_ANY, &e);
	assert_non_null(j);
	json_decref(j);
}

static void test_slug_is_safe_and_distinct(void **state)
{
	(void)state;
	char a[96], b[96];
	rr__slug("bug:write(m_post_fd, &buffer, 1): Broken pipe", a, sizeof a);
	rr__slug("bug:write(m_post_fd, &buffer, 1): Bad file descriptor", b, sizeof b);
	assert_string_not_equal(a, b);
	for (const char *p = a; *p; p++)
		assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '-');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_iteration_seeds_are_stable_and_distinct),
		cmocka_unit_test(test_repro_roundtrip),
		cmocka_unit_test(test_repro_roundtrip_edges),
		cmocka_unit_test(test_repro_errors_name_the_line),
		cmocka_unit_test(test_input_strategy_consumes_bytes_then_defaults),
		cmocka_unit_test(test_pct_is_a_function_of_its_seed),
		cmocka_unit_test(test_strategy_names),
		cmocka_unit_test(test_abstract_schedule_encode_decode),
		cmocka_unit_test(test_schedule_mutator_output_is_valid),
		cmocka_unit_test(test_schedule_mutator_reseeds_and_starts_surw),
		cmocka_unit_test(test_schedule_base_knob_fixes_the_sampler),
		cmocka_unit_test(test_repro_version2_roundtrip),
		cmocka_unit_test(test_holds_encode_decode_and_repro),
		cmocka_unit_test(test_hold_event_keeps_the_threads_between_their_steps),
		cmocka_unit_test(test_reads_from_map_pairs_same_object_steps),
		cmocka_unit_test(test_portfolio_bandit_favours_what_hits),
		cmocka_unit_test(test_pos_reorders_only_conflicting_threads),
		cmocka_unit_test(test_surw_weights_by_remaining_named_points),
		cmocka_unit_test(test_oracle_reads_sanitizer_reports),
		cmocka_unit_test(test_oracle_classifies_exits),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_slug_is_safe_and_distinct),
	};
	RRT_MAIN(tests);
}
