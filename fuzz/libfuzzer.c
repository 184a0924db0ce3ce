/*
 * libfuzzer.c: the fuzz target of one scenario. The fuzzer's bytes are an
 * abstract schedule (harness/schedule.h: a base sampler, its seed, and
 * overrides that force who runs at given race points), or with
 * RR_FUZZ_INPUT=bytes the version-1 decision bytes. One call runs exactly one
 * iteration of the scenario in this process, so a finding (rr_bug, a
 * sanitizer report, a deadlock) ends the process as a crash the engine saves,
 * and the crash file replays with `racerepro replay --scenario NAME FILE`.
 *
 * Built once per scenario (fuzz/fuzz.mk):
 *   -DRR_FUZZ_SCENARIO=broken_pipe    the scenario (required)
 *   -DRR_FUZZ_VARIANT=\"buggy\"         the default variant (buggy if unset)
 *   -DRR_FUZZ_AFL                     AFL++ (libAFLDriver.a): feedback through
 *                                     __afl_area_ptr instead of libFuzzer's
 *                                     extra counters
 * Environment, read once when the target initializes:
 *   RR_FUZZ_VARIANT=fixed   another variant than the built-in default
 *   RR_FUZZ_PARAMS="a=1 b=2" scenario parameters (as racerepro's --param)
 *   RR_FUZZ_FEEDBACK=1      (the default) abstract reads-from over race points
 *                           (harness/sched.c, rr__rf_hook): one bit per pair
 *   RR_FUZZ_FEEDBACK=0      no interleaving feedback (to measure what it buys);
 *                           pairs: the older consecutive-point-name pairs;
 *                           2: those pairs keyed by the pair before them too
 *   RR_FUZZ_RESEED=0..8     how many of 8 mutated children get a fresh base
 *                           seed (default 8; 1 was the old near-neighbour
 *                           mutator, see rr__schedule_reseed)
 *   RR_FUZZ_BASE=random|pct|surw|pos  every mutated schedule's base sampler
 *                           (default: surw for a header-less input's
 *                           children, any of the four after that; see
 *                           rr__schedule_base). An ablation knob; the AFL++
 *                           mutator does not read it.
 *   RR_FUZZ_REPEATS=run     AFL++ only: run afl-fuzz's calibration repeats
 *                           instead of answering them from the last run
 *                           (the default, "answer"; see answer_repeat)
 *   RR_FUZZ_RUN_LOG=FILE    AFL++ only: one byte per input, 'r' ran, 'c'
 *                           answered a repeat, 's' skipped (for the bench)
 *
 * Errors keep their three channels (design/style.md): a finding aborts (a
 * crash for the engine); an environment error from iterate() is not a finding,
 * so the input counts as uninteresting; the harness failing (rr__fatal, or a
 * setup that cannot work) ends the process with _exit(3), which neither
 * libFuzzer nor AFL++ records as a crash.
 *
 * Cleaning up: at a normal exit the scenario's teardown runs, tracked System V
 * segments are removed, and context.c removes the in-process scratch
 * directory. A crash skips all that by nature; scripts/fuzz.sh removes the
 * scratch directories (/dev/shm/racerepro-<pid>-*) of fuzz processes that died.
 *
 * Under libFuzzer the scenario's setup runs in LLVMFuzzerInitialize, so that
 * its cost (ftok_collision makes 65,537 files) is not charged to the first
 * input's -timeout. Under AFL++ it runs lazily at the first input instead:
 * libAFLDriver calls LLVMFuzzerInitialize before the fork server starts, and
 * state such as an io_uring ring must belong to the process that uses it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"

#ifndef RR_FUZZ_SCENARIO
#error "build with -DRR_FUZZ_SCENARIO=name (see fuzz/fuzz.mk)"
#endif
#ifndef RR_FUZZ_VARIANT
#define RR_FUZZ_VARIANT "buggy"
#endif
#define RR_FUZZ_STR2(x) #x
#define RR_FUZZ_STR(x) RR_FUZZ_STR2(x)
#define SCENARIO_NAME RR_FUZZ_STR(RR_FUZZ_SCENARIO)

/* Consecutive environment errors after which fuzzing on is pointless. */
#define MAX_ENV_ERRORS_IN_A_ROW 200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
#ifndef RR_FUZZ_AFL
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
				 size_t size2, uint8_t *out, size_t max_out_size, unsigned int seed);
#endif

/* ------------------------------------------------------------------------ */
/* Interleaving feedback                                                     */
/* ------------------------------------------------------------------------ */

/* Code coverage says little about interleavings: two schedules that take the
 * same branches in a different order look the same to it. So every time a
 * race point is taken by a different thread than the previous one, the pair
 * (previous point, this point) becomes a counter the engine can see: a new
 * pair, or a pair taken more often (the engines bucket counts), makes the
 * input interesting. */
#ifdef RR_FUZZ_AFL
static uint32_t mix_bit(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}
#endif

static uint32_t pair_index(uint32_t prev, uint32_t cur, uint32_t n)
{
	/* Ordered: (a, b) and (b, a) are different interleavings. */
	uint32_t h = (prev * 0x9e3779b1u) ^ ((cur << 7) | (cur >> 25)) ^ cur;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h % n;
}

/* RR_FUZZ_FEEDBACK=2: each switch pair is also keyed by the pair before it
 * in this iteration (a window of two switches), so that the same pair
 * reached along a different interleaving counts as new. Reset per input. */
static int feedback_history;
static uint32_t last_pair;

static uint32_t feedback_key(uint32_t prev, uint32_t cur)
{
	if (!feedback_history)
		return prev;
	uint32_t before = __atomic_load_n(&last_pair, __ATOMIC_RELAXED);
	__atomic_store_n(&last_pair, pair_index(prev, cur, 0xffffffffu), __ATOMIC_RELAXED);
	return prev ^ (before * 0x2545f491u);
}

#ifdef RR_FUZZ_AFL
#include "afl_map.h"

/* A reads-from bit: set, never counted (a pair seen twice is not a new
 * interleaving). Its own slots at the map's end would be cleaner, but AFL++
 * sizes the map from the instrumented edges; a hash into the whole map is
 * what the pairs did too. */
static void rf_hook(uint32_t bit)
{
	uint32_t n;
	uint8_t *map = rr__afl_map(&n);
	if (map && n)
		__atomic_store_n(&map[mix_bit(bit) % n], 1, __ATOMIC_RELAXED);
}

static void pair_hook(uint32_t prev, uint32_t cur)
{
	uint32_t n;
	uint8_t *map = rr__afl_map(&n);
	if (!map || n == 0)
		return;
	/* Increment like AFL++'s own edges do (NeverZero): a wrap to 0 would
	 * hide a pair taken 256 times. */
	uint8_t *c = &map[pair_index(feedback_key(prev, cur), cur, n)];
	uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
	__atomic_store_n(c, (uint8_t)(v + 1 + (v == 255)), __ATOMIC_RELAXED);
}
#else
#define PAIR_COUNTERS 8192
/* libFuzzer reads every byte of this section as extra coverage counters. */
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t
	pair_counters[PAIR_COUNTERS];

/* libFuzzer treats each of these bytes as a feature when non-zero: one
 * byte per reads-from bit of the harness's RR_RF_BITS map. */
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t
	rf_counters[RR_RF_BITS];

static void rf_hook(uint32_t bit)
{
	__atomic_store_n(&rf_counters[bit % RR_RF_BITS], 1, __ATOMIC_RELAXED);
}

static void pair_hook(uint32_t prev, uint32_t cur)
{
	/* Atomic: the threads that take turns here hand the run token over
	 * invisibly to TSan on purpose (harness/sched.c), so plain increments
	 * would be reported as races in the TSan target. Relaxed is enough. */
	uint8_t *c = &pair_counters[pair_index(feedback_key(prev, cur), cur, PAIR_COUNTERS)];
	uint8_t v = __atomic_load_n(c, __ATOMIC_RELAXED);
	if (v != 255) /* saturate: libFuzzer buckets counts 1, 2, 3, 4-7, ... 128+ */
		__atomic_store_n(c, (uint8_t)(v + 1), __ATOMIC_RELAXED);
}
#endif

/* ------------------------------------------------------------------------ */
/* One scenario, in this process                                             */
/* ------------------------------------------------------------------------ */

static const struct rr_scenario *scenario;
static struct rr__run_config cfg;
static struct rr__worker_shm *shm; /* MAP_SHARED: forked scenario processes share the run token */
static struct rr__engine engine;
static pid_t owner_pid;
static int ready, skipped, env_errors_in_a_row;

/* At a normal exit only (a crash ends the process without it): what a driver
 * would clean after a worker. Scenario child processes never get here, they
 * leave with _exit. */
static void cleanup_at_exit(void)
{
	if (getpid() != owner_pid || !shm)
		return;
	rr__engine_teardown(&engine);
}

/* A harness failure before any input ran: not a finding, so no abort. */
RR_NORETURN static void init_failed(const char *fmt, const char *arg)
{
	fprintf(stderr, "racerepro-fuzz: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	_exit(RR_EXIT_ENV);
}

#ifdef RR_FUZZ_AFL
#include <limits.h>
#include <sys/stat.h>

#include "surw_share.h"

static struct rr__surw_share *surw_share;

/* fuzz/surw_share.h: this child starts from what the earlier children
 * learned, and its totals go back after every iteration, for the mutator's
 * surw children. Not set (the target run outside afl-fuzz, or with another
 * mutator): this process learns for itself only. */
static void surw_share_attach(void)
{
	const char *v = getenv(RR_SURW_SHARE_ENV);
	if (!v || !*v)
		return;
	char *end;
	long fd = strtol(v, &end, 10);
	struct stat st;
	if (*end || fd < 0 || fd > INT_MAX || fstat((int)fd, &st) < 0 ||
	    st.st_size < (off_t)sizeof *surw_share)
		init_failed(RR_SURW_SHARE_ENV "=%s is not libschedule-mutator.so's shared file: "
			    "unset it outside afl-fuzz", v);
	void *p = mmap(NULL, sizeof *surw_share, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	if (p == MAP_FAILED)
		init_failed("mmap(" RR_SURW_SHARE_ENV "): %s", strerror(errno));
	/* The mapping stays; the descriptor would only leak into the
	 * scenario's own child processes. */
	close((int)fd);
	surw_share = p;
	uint64_t sum[RR_SCHED_EXPECTS], n[RR_SCHED_EXPECTS];
	for (int r = 0; r < RR_SCHED_EXPECTS; r++) {
		sum[r] = __atomic_load_n(&surw_share->sum[r], __ATOMIC_RELAXED);
		n[r] = __atomic_load_n(&surw_share->n[r], __ATOMIC_RELAXED);
	}
	rr__surw_learn_add(scenario->roles, sum, n, RR_SCHED_EXPECTS);
}

static void surw_share_publish(void)
{
	if (!surw_share)
		return;
	uint64_t sum[RR_SCHED_EXPECTS], n[RR_SCHED_EXPECTS];
	int k = rr__surw_learned(scenario->roles, sum, n, RR_SCHED_EXPECTS);
	for (int r = 0; r < k; r++) {
		__atomic_store_n(&surw_share->sum[r], sum[r], __ATOMIC_RELAXED);
		__atomic_store_n(&surw_share->n[r], n[r], __ATOMIC_RELAXED);
	}
}

/* Edges, not hit counts: AFL++ buckets how often each edge ran, and in
 * the scenario code a count moves with the interleaving (how often a read
 * loop spun before the peer wrote), so nearly every schedule showed a "new"
 * count and became a queue entry, each costing AFL++ three calibration runs
 * of an input this deterministic scheduler repeats exactly (measured:
 * twelve of the first sixteen executions on broken_pipe). New interleavings
 * are the reads-from bits' job (RR_FUZZ_FEEDBACK=1); code coverage keeps
 * saying which branches a schedule reached. */
static void afl_map_edges_only(void)
{
	uint32_t n;
	uint8_t *map = rr__afl_map(&n);
	for (uint32_t i = 1; map && i < n; i++)
		if (map[i])
			map[i] = 1;
}

/* The scenario's setup runs at a child's first input (see the top of this
 * file), and its edges would land in that input's map: the same schedule
 * would show more coverage in a fresh child than in a used one, which
 * afl-fuzz reads as an unstable target and calibrates longer. The map
 * starts again here, as AFL++'s persistent loop starts it between inputs
 * (byte 0 is its own). */
static void afl_map_forget_setup(void)
{
	uint32_t n;
	uint8_t *map = rr__afl_map(&n);
	if (map && n > 1)
		memset(map + 1, 0, n - 1);
}

/* afl-fuzz runs every new queue entry three more times (calibration,
 * AFL_FAST_CAL's floor) to see whether its coverage is stable. This
 * scheduler replays a schedule exactly (afl-fuzz measures 100 % stability
 * on the scenarios when the repeats do run: fuzz/README.md), so those runs
 * can only confirm the first, and they cost three scenario runs per new
 * entry: on broken_pipe, 3 to 9 of the 5 to 28 runs before the first crash.
 * So a repeat of the input this process has just run to the end is
 * answered with the map that run left, without running the scenario.
 * RR_FUZZ_REPEATS=run runs the repeats (afl-fuzz then measures stability
 * itself). RR_FUZZ_RUN_LOG=FILE appends one byte per input afl-fuzz sent:
 * 'r' ran the scenario, 'c' answered from the last run, 's' the scenario
 * skips itself here (RR_SKIP); the benchmark counts scenario runs with it
 * (bench/search.c). */
static struct {
	int enabled;
	int valid; /* the last input ran to the end without a finding */
	uint32_t len;
	uint8_t input[RR_MAX_SCHEDULE];
	uint8_t *map; /* its map, bytes 1..map_len-1 */
	uint32_t map_len;
} last_run;
static int run_log_fd = -1;

static void repeats_init(void)
{
	const char *v = getenv("RR_FUZZ_REPEATS");
	if (v && *v && strcmp(v, "run") && strcmp(v, "answer"))
		init_failed("RR_FUZZ_REPEATS=%s: use answer (the default) or run", v);
	last_run.enabled = !v || !*v || !strcmp(v, "answer");
	const char *log = getenv("RR_FUZZ_RUN_LOG");
	if (log && *log) {
		run_log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (run_log_fd < 0)
			init_failed("RR_FUZZ_RUN_LOG: cannot open it for appending: %s",
				    strerror(errno));
	}
}

static void run_log(char what)
{
	/* A measurement aid: a lost byte shows as a length that differs from
	 * afl-fuzz's count, which the benchmark checks. */
	if (run_log_fd >= 0 && write(run_log_fd, &what, 1) != 1)
		run_log_fd = -1;
}

/* Whether DATA repeats the last input, whose map is then copied back. */
static int answer_repeat(const uint8_t *data, uint32_t size)
{
	uint32_t n;
	uint8_t *map = rr__afl_map(&n);
	if (!last_run.enabled || !last_run.valid || size != last_run.len ||
	    memcmp(data, last_run.input, size) || !map || n != last_run.map_len)
		return 0;
	memcpy(map + 1, last_run.map + 1, n - 1);
	return 1;
}

static void remember_run(const uint8_t *data, uint32_t size, int ok)
{
	uint32_t n;
	uint8_t *map = rr__afl_map(&n);
	last_run.valid = 0;
	if (!last_run.enabled || !ok || !map || n < 2)
		return;
	if (last_run.map_len != n) {
		uint8_t *m = realloc(last_run.map, n);
		if (!m)
			return;
		last_run.map = m;
		last_run.map_len = n;
	}
	memcpy(last_run.map + 1, map + 1, n - 1);
	memcpy(last_run.input, data, size);
	last_run.len = size;
	last_run.valid = 1;
}
#endif

static void fuzz_init(void)
{
	scenario = rr__scenario_find(SCENARIO_NAME);
	if (!scenario)
		init_failed("scenario '%s' is not in the registry (scenarios/scenarios.def)",
			    SCENARIO_NAME);
	const char *vname = getenv("RR_FUZZ_VARIANT");
	if (!vname || !*vname)
		vname = RR_FUZZ_VARIANT;
	const struct rr_variant *v = rr__variant_find(scenario, vname);
	if (!v)
		init_failed("RR_FUZZ_VARIANT=%s: no such variant (racerepro list shows them)",
			    vname);
	cfg.scenario = scenario;
	cfg.variant = v;
	/* RR_FUZZ_PARAMS="name=value name=value": scenario parameters, as
	 * --param gives them to racerepro (the benchmark's cells). */
	const char *pv = getenv("RR_FUZZ_PARAMS");
	for (const char *q = pv; q && *q;) {
		char item[RR_PARAM_NAME + RR_PARAM_VALUE];
		size_t len = strcspn(q, " ");
		char *eq;
		if (len >= sizeof item)
			init_failed("RR_FUZZ_PARAMS: an item is too long in '%s'", pv);
		memcpy(item, q, len);
		item[len] = '\0';
		q += len + (q[len] == ' ');
		if (!len)
			continue;
		eq = strchr(item, '=');
		if (!eq)
			init_failed("RR_FUZZ_PARAMS: '%s' is not NAME=VALUE", item);
		*eq = '\0';
		if (!rr__param_decl(scenario, item) || rr__params_set(&cfg.params, item, eq + 1) < 0)
			init_failed("RR_FUZZ_PARAMS: the scenario has no parameter '%s'", item);
	}
	cfg.strategy = RR_STRAT_INPUT;
	cfg.iterations = 1;
	cfg.jobs = 1;
	cfg.quiet = 1;
	shm = mmap(NULL, sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		init_failed("mmap(shared worker state): %s", strerror(errno));
	owner_pid = getpid();
	for (int i = 0; i < RR_MAX_TRACKED; i++)
		shm->tracked_shm[i] = -1; /* 0 is a valid shmid */
	/* Workers ignore SIGPIPE (bitcoind does): a write to a closed pipe is
	 * EPIPE, which is what broken_pipe's oracle looks for. */
	signal(SIGPIPE, SIG_IGN);
	/* The input is an abstract schedule (harness/schedule.h) unless
	 * RR_FUZZ_INPUT=bytes asks for the version-1 decision bytes. */
	const char *im = getenv("RR_FUZZ_INPUT");
	if (im && *im && strcmp(im, "bytes") && strcmp(im, "abstract"))
		init_failed("RR_FUZZ_INPUT=%s: use abstract (the default) or bytes", im);
	rr__input_legacy = im && !strcmp(im, "bytes");
	const char *fb = getenv("RR_FUZZ_FEEDBACK");
	if (!fb || !*fb || !strcmp(fb, "1"))
		rr__rf_hook = rf_hook;
	else if (!strcmp(fb, "pairs") || !strcmp(fb, "2"))
		rr__pair_hook = pair_hook;
	else if (strcmp(fb, "0"))
		init_failed("RR_FUZZ_FEEDBACK=%s: use 1 (reads-from), pairs, 2 or 0", fb);
	feedback_history = fb && !strcmp(fb, "2");
	if (rr__schedule_reseed_env() < 0)
		init_failed("RR_FUZZ_RESEED=%s: use 0..8", getenv("RR_FUZZ_RESEED"));
	if (rr__schedule_base_env("RR_FUZZ_BASE") < 0)
		init_failed("RR_FUZZ_BASE=%s: use random, pct, surw or pos", getenv("RR_FUZZ_BASE"));
	if (atexit(cleanup_at_exit))
		init_failed("%s", "atexit failed");
	int rc = rr__engine_setup(&engine, &cfg, shm, RR_IN_FUZZER);
	if (rc == RR_SKIP) {
		/* Nothing to fuzz here, but not an error of the target:
		 * every input passes. */
		fprintf(stderr, "racerepro-fuzz: %s skipped: %s\n", scenario->name, shm->message);
		skipped = 1;
	} else if (rc < 0) {
		init_failed("setup failed (environment error): %s", shm->message);
	}
#ifdef RR_FUZZ_AFL
	surw_share_attach();
	repeats_init();
#endif
	ready = 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
#ifndef RR_FUZZ_AFL
	fuzz_init();
#endif
	return 0;
}

#ifdef RR_FUZZ_AFL
/* AFL++'s libFuzzer driver (4.04c) starts every forked child with one call on
 * a 4-byte dummy ("##SI", from its persistent-mode signature) so that the
 * coverage of initialization is not charged to the first real input. As a
 * schedule it is an arbitrary one, and in scenarios where most schedules
 * fail it crashed each child before afl-fuzz sent any input ("every seed
 * crashes"). So the first call of a process is skipped when it is that
 * dummy; a real first input "##SI" is lost once per child, which costs
 * nothing. */
static int is_driver_warmup(const uint8_t *data, size_t size)
{
	static int calls;
	return calls++ == 0 && size == 4 && !memcmp(data, "##SI", 4);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#ifdef RR_FUZZ_AFL
	if (is_driver_warmup(data, size))
		return 0;
#endif
	if (!ready) {
		fuzz_init();
#ifdef RR_FUZZ_AFL
		afl_map_forget_setup();
#endif
	}
	if (skipped) {
#ifdef RR_FUZZ_AFL
		run_log('s');
#endif
		return 0;
	}
	struct rr__worker_shm *w = shm;
	__atomic_store_n(&last_pair, 0, __ATOMIC_RELAXED);
	uint32_t n = size > RR_MAX_SCHEDULE ? RR_MAX_SCHEDULE : (uint32_t)size;
#ifdef RR_FUZZ_AFL
	if (answer_repeat(data, n)) {
		run_log('c');
		return 0;
	}
	/* Before the run: a run that crashes is logged too. */
	run_log('r');
#endif
	int rc = rr__engine_iterate(&engine, RR_STRAT_INPUT, w->iter_index + 1, 0, data, n, 0, 0);
#ifdef RR_FUZZ_AFL
	surw_share_publish();
	afl_map_edges_only();
	remember_run(data, n, rc >= 0);
#endif
	if (rc >= 0) {
		env_errors_in_a_row = 0;
	} else {
		/* Not a finding: the input is just uninteresting. Say so once,
		 * and stop when the environment clearly cannot run the scenario. */
		if (env_errors_in_a_row++ == 0)
			fprintf(stderr, "racerepro-fuzz: %s: environment error (not a finding): %s\n",
				scenario->name, w->message);
		if (env_errors_in_a_row >= MAX_ENV_ERRORS_IN_A_ROW) {
			fprintf(stderr, "racerepro-fuzz: %s: %d environment errors in a row; "
				"stopping\n", scenario->name, env_errors_in_a_row);
			_exit(RR_EXIT_ENV);
		}
	}
	return 0;
}

#ifndef RR_FUZZ_AFL
/* ------------------------------------------------------------------------ */
/* Structure-aware mutation (libFuzzer)                                      */
/* ------------------------------------------------------------------------ */

static int scenario_nroles(void)
{
	int n = 0;
	while (scenario && scenario->roles && scenario->roles[n])
		n++;
	return n;
}

/* Insert, delete, retarget or move an override, reseed or change the base
 * sampler (harness/schedule.c). A schedule whose base is surw and that
 * carries no expectations gets what this process has learned so far, so
 * that the input replays with them anywhere. In bytes mode, libFuzzer's
 * own mutations. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	if (rr__input_legacy)
		return LLVMFuzzerMutate(data, size, max_size);
	if (!ready)
		fuzz_init();
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + size;
	size_t n = rr__schedule_mutate(data, size, max_size, s, scenario_nroles());
	uint8_t role[RR_SCHED_EXPECTS], expect[RR_SCHED_EXPECTS];
	int ne = rr__surw_expectations(scenario->roles, role, expect, RR_SCHED_EXPECTS);
	return rr__schedule_with_expectations(data, n, max_size, role, expect, ne);
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1, const uint8_t *data2,
				 size_t size2, uint8_t *out, size_t max_out_size, unsigned int seed)
{
	if (rr__input_legacy) {
		size_t n = size1 < max_out_size ? size1 : max_out_size;
		memcpy(out, data1, n);
		return n;
	}
	/* Then one mutation: a crossover alone keeps the first parent's base
	 * seed, and libFuzzer picks it for about half of its executions, so
	 * those would re-run corpus schedules with other overrides (measured
	 * with a fresh seed in half of the children: a median of 25
	 * executions on broken_pipe without this step, 14 with). */
	size_t n = rr__schedule_cross(data1, size1, data2, size2, out, max_out_size, seed);
	return LLVMFuzzerCustomMutator(out, n, max_out_size, seed ^ 0x5bd1e995u);
}
#endif
