/*
 * rr_internal.h: the harness's own interfaces between its modules. Nothing
 * here is for scenarios (they use racerepro.h only). Internal names use the
 * rr__ prefix.
 */
#ifndef RR_INTERNAL_H
#define RR_INTERNAL_H

#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "racerepro.h"
#include "schedule.h"

#ifndef RR_BUILD_NAME
#define RR_BUILD_NAME "none"
#endif

/* Exit codes of the racerepro CLI (documented in README.md). */
enum { RR_EXIT_OK = 0, RR_EXIT_FINDING = 1, RR_EXIT_USAGE = 2, RR_EXIT_ENV = 3 };

/* Exit codes of a worker process, read by the driver. Anything else, or a
 * signal, is a crash. */
enum {
	RR_WEXIT_DONE = 0,
	RR_WEXIT_BUG = 65,
	RR_WEXIT_SANITIZER = 66, /* set as exitcode= in the sanitizer options */
	RR_WEXIT_HANG = 67,      /* the scheduler found a deadlock */
	RR_WEXIT_ERROR = 68,     /* rr_env_error, harness failure */
	RR_WEXIT_SKIP = 69,
};

/* Outcome classes, in report order. */
enum rr_outcome {
	RR_PASS,
	RR_BUG,
	RR_SANITIZER,
	RR_CRASH,
	RR_HANG,
	RR_ERROR,
	RR_NOUTCOMES
};
extern const char *const rr__outcome_names[RR_NOUTCOMES];

/* ---- strategies (strategy.c) ---- */
struct rr__sched;
enum rr_strategy_id {
	RR_STRAT_NONE,
	RR_STRAT_NOISE,
	RR_STRAT_RANDOM,
	RR_STRAT_PCT,
	RR_STRAT_INPUT,
	RR_STRAT_PORTFOLIO,
	RR_STRAT_SURW, /* after portfolio: the older ids keep their numbers */
	RR_STRAT_POS,
	RR_STRAT_GREYBOX, /* a loop over input iterations, like portfolio over its arms */
	RR_NSTRATEGIES
};
extern const char *const rr__strategy_names[RR_NSTRATEGIES];
int rr__strategy_parse(const char *name); /* -1 if unknown */
int rr__strategy_controlled(int id);
/* The concrete strategy portfolio uses for iteration INDEX: UCB1 over the
 * arms' observed hit rates in this cell (PLAYS and WINS indexed by strategy
 * id; NULL or all zero: the fixed rotation). */
int rr__portfolio_pick(uint64_t index, const uint64_t *plays, const uint64_t *wins);
/* surw learns each role's number of named race points from the iterations
 * this process ran. A reproducer carries what its iteration used as
 * "ROLE=N ROLE=N ..."; rr__surw_preset(SPEC) fixes the expectations to that
 * (learning off; "" is a valid spec: no expectations, as in a worker's
 * first iteration) so that the replay decides the same; NULL turns learning
 * back on from nothing. Returns -1 on a malformed SPEC. */
int rr__surw_preset(const char *spec);
/* How `input` reads its bytes in this process: 0 (the default) as an
 * abstract schedule (schedule.h), 1 as the version-1 decision bytes (byte %
 * n picks the thread, then the current thread keeps running), which older
 * reproducers store. Set before the workers fork, like rr__surw_preset. */
extern int rr__input_legacy;
/* What this process has learned so far, as role indices into ROLES and
 * expected counts (at most CAP); for a fuzz target's mutator, which writes
 * them into the abstract schedules it makes. Returns how many. */
int rr__surw_expectations(const char *const *roles, uint8_t *role, uint8_t *expect, int cap);
/* What this process has learned per role of ROLES (index i < CAP): the named
 * points summed over its iterations, and how many iterations (0: none yet);
 * and the way back, which adds such totals to what is learned. A fuzz target
 * under AFL++ keeps them across its fork server's children this way
 * (fuzz/surw_share.h), as libFuzzer's one process keeps them by itself.
 * rr__surw_learned returns how many roles it filled. */
int rr__surw_learned(const char *const *roles, uint64_t *sum, uint64_t *n, int cap);
void rr__surw_learn_add(const char *const *roles, const uint64_t *sum, const uint64_t *n, int count);
/* Writes S's expectations as a preset spec into BUF ("" when none). */
void rr__surw_format(const struct rr__sched *s, char *buf, size_t cap);
/* The strategies portfolio chooses among, in tie-breaking order. */
extern const int rr__portfolio_arms[];
extern const int rr__portfolio_narms;

/* ---- the scheduler's shared state (sched.c) ----
 * Lives in a MAP_SHARED region made by the driver before it forks the worker,
 * so that processes a scenario forks share it (the run token spans them) and
 * the driver can read the trace of an iteration whose worker died. */
#define RR_MAX_THREADS 264 /* 256 program threads, its main thread and the worker */
#define RR_MAX_EVENTS 4096
#define RR_MAX_SCHEDULE 8192
#define RR_MAX_FDS 8
#define RR_RF_BITS 8192 /* the reads-from feedback map, in bits */
#define RR_CUT_EVENTS 256
#define RR_CUT_ROLES 16
#define RR_RF_LOG 512
#define RR_NAME 40
#define RR_DETAIL 72

enum rr_slot_state { RR_SLOT_FREE, RR_SLOT_RUNNABLE, RR_SLOT_PARKED, RR_SLOT_EXITED };
enum rr_wait_kind {
	RR_WAIT_NONE,
	RR_WAIT_OBJECT, /* mutex or condition: woken explicitly */
	RR_WAIT_FD,     /* poll() readiness, same process only */
	RR_WAIT_PRED,   /* predicate, same process only */
	RR_WAIT_SLOT,   /* a thread or process to exit */
	RR_WAIT_TIME,   /* only the deadline */
};

struct rr__slot {
	/* The slot's own futex word: bumped by whoever hands it the token, so
	 * that a switch wakes only the chosen thread, whatever the thread count. */
	uint32_t wake;
	int32_t state;
	int32_t pid;
	char role[24];
	int32_t wait_kind;
	int32_t woken;
	int32_t timed_out;
	int32_t nfds;
	uint64_t wait_obj;
	uint64_t wait_seq;
	uint64_t deadline; /* 0: none */
	struct pollfd fds[RR_MAX_FDS];
	int (*pred)(void *);
	void *pred_arg;
	char waiting_on[RR_DETAIL];
	char last_point[RR_NAME];
	uint64_t priority; /* pct, pos */
	uint64_t noise_rng;
	/* What the thread is about to touch (obj) and what the step it just
	 * finished touched (obj_done): an address or an fd/slot key from
	 * rr__obj_key, 0 when unknown. pos's conflict relation and the
	 * reads-from feedback compare these. */
	uint64_t obj;
	uint64_t obj_done;
	int32_t at_named;    /* its last point was a scenario's rr_point, not a wrapper */
	/* Holds (schedule.h): the thread stands at a race point it has not
	 * been let past yet; it has been let past one (the feedback's
	 * progress counts). */
	int32_t pending;
	int32_t progressed;
	uint32_t named;      /* scenario-named points it has taken this iteration */
	int32_t surw_expect; /* surw: expected named points of its role, -1 unknown */
	/* reads-from feedback: the thread's last event (role, point,
	 * occurrence) as a hash, 0 before its first point, and how often it
	 * took each point so far (a few points per thread; capped at 7). */
	uint32_t rf_event;
	uint32_t role_hash;
	int32_t role_idx; /* index in the scenario's roles list, -1 if not there */
	uint32_t occ_hash[12];
	uint8_t occ_count[12];
	int32_t exit_status; /* processes */
	uint64_t start_fn;   /* exec mode: the start routine, for the trace */
	int32_t tid;         /* exec mode: the kernel thread, for the stall detector */
};

/* Object keys for pos's conflict relation and the reads-from feedback: a
 * scenario's address as it is; fds and thread slots tagged in the top two
 * bits, which no user-space address has set. fds are per process, so two
 * processes' fd 5 share a key: an over-approximation, never a missed
 * conflict within a process. */
#define RR_OBJ_SLOT(id) ((2ull << 62) | (uint32_t)(id))
#define RR_OBJ_FD(fd) ((3ull << 62) | (uint32_t)(fd))

enum rr_event_kind { RR_EV_POINT, RR_EV_NOTE, RR_EV_SWITCH, RR_EV_TIME, RR_EV_START, RR_EV_EXIT };

struct rr__event {
	uint32_t step;
	int16_t thread;
	int16_t kind;
	char point[RR_NAME];
	char detail[RR_DETAIL];
};

/* surw: the expected number of scenario-named race points of a role. */
struct rr__role_expect {
	char role[24];
	uint32_t expect;
};

struct rr__sched {
	int32_t controlled;
	int32_t strategy; /* the concrete strategy of this iteration */
	uint32_t token;   /* futex word: slot that holds the run token */
	int32_t nslots;
	uint64_t vtime;
	uint64_t steps;
	uint64_t seed;
	uint64_t rng;
	uint64_t wait_seq_next;
	uint32_t pct_depth;
	uint32_t pct_steps; /* expected steps: change points are drawn in [1, pct_steps] */
	uint64_t pct_change[16];
	uint32_t ninput;
	uint32_t input_pos;
	uint32_t ndecisions;
	uint32_t preemptions;
	uint32_t nevents; /* may exceed RR_MAX_EVENTS: later events are dropped */
	/* Exec mode: set when a token holder stalled in a call the scheduler
	 * cannot see and the iteration was released to free-running. */
	int32_t released;
	char released_why[RR_DETAIL];
	int32_t current;  /* the slot taking the current decision */
	/* input with an abstract schedule (schedule.h): decoded from input[] */
	int32_t abstract;
	int32_t nroles;
	uint32_t role_points[RR_MAX_THREADS]; /* race points taken per role index */
	struct rr__abstract abs;
	uint32_t role_passed[RR_MAX_THREADS]; /* race points let past, per role index */
	/* Abstract schedules only: where every role stood at each race point
	 * (the first RR_CUT_EVENTS of roles below RR_CUT_ROLES), and which
	 * of them set each bit of rf_map: greybox turns the event behind the
	 * rarest bit of a kept run into holds for its children (greybox.c). */
	uint32_t ncut;
	struct rr__cut {
		uint8_t role;
		uint8_t unused;
		uint16_t k;
		uint8_t passed[RR_CUT_ROLES];
	} cut[RR_CUT_EVENTS];
	uint32_t nrf_log;
	struct rr__rf_log {
		uint16_t bit;
		uint16_t cut;
	} rf_log[RR_RF_LOG];
	uint32_t rf_count;  /* bits set in rf_map this iteration */
	uint8_t rf_map[RR_RF_BITS / 8]; /* reads-from feedback, set and never counted */
	int32_t nsurw;    /* surw: the expectations this iteration used */
	struct rr__role_expect surw[RR_MAX_THREADS];
	uint8_t input[RR_MAX_SCHEDULE];
	uint8_t decisions[RR_MAX_SCHEDULE];
	struct rr__slot slots[RR_MAX_THREADS];
	struct rr__event events[RR_MAX_EVENTS];
};

/* ---- per-worker shared status (supervisor.c maps it, engine.c fills it) ---- */
#define RR_MAX_NOTES 8
#define RR_NOTE 128
/* Environment notes (key, value): sets KEY in NOTES, N of them in use.
 * Returns 1 when KEY is new, 0 when its value was replaced, -1 when the
 * table is full (context.c). */
int rr__note_set(char (*notes)[2][RR_NOTE], int32_t *n, const char *key, const char *value);
#define RR_MAX_TRACKED 64
#define RR_MSG 512

enum rr_worker_state { RR_W_STARTING, RR_W_IDLE, RR_W_ITERATING, RR_W_DONE };

struct rr__worker_shm {
	int32_t state;
	int32_t finding; /* enum rr_outcome set by the worker for bug, hang, error */
	uint64_t iter_index;
	uint64_t iter_seed;
	uint64_t iter_started_ns; /* CLOCK_MONOTONIC */
	uint64_t passes;
	uint64_t strat_passes[RR_NSTRATEGIES];
	char message[RR_MSG];
	char finding_role[24];
	/* exec mode: the role of the program's thread that ended it (exit,
	 * an assertion, abort, a crash signal), written by the runtime. */
	char exit_role[24];
	int32_t nnotes;
	char notes[RR_MAX_NOTES][2][RR_NOTE];
	int32_t ntracked;
	int32_t tracked_shm[RR_MAX_TRACKED];
	char scratch[256];
	/* Exec mode (exec.c, runtime/rt.c). A program process that dies of a
	 * fatal signal stops in its handler with its pid in crash_pid and waits
	 * until the worker's gdb has its backtraces (crash_ack = that pid);
	 * forensics is set meanwhile, so that the watchdog waits for gdb too. */
	int32_t crash_pid;
	int32_t crash_sig;
	uint32_t crash_ack;
	int32_t forensics;
	/* Threads and processes the program made this iteration: role names
	 * (t3, p1) stay unique across the processes of --follow-exec. */
	uint32_t exec_threads;
	uint32_t exec_procs;
	struct rr__sched sched;
};

/* The run-wide shared counters: workers claim iteration indices here. */
struct rr__run_shm {
	uint64_t next_iteration;
	uint64_t budget; /* 0: unlimited */
	int32_t stop;
	/* portfolio's bandit: iterations begun per strategy (a worker counts
	 * them as it claims one) and failures seen (the driver counts them as
	 * it reaps). With --jobs 1 both happen in one order, so the picks are
	 * a function of the run seed; with more jobs they follow the order in
	 * which results arrive, and each failure still records the strategy
	 * and seed of its own iteration, which is all a replay needs. */
	uint64_t arm_plays[RR_NSTRATEGIES];
	uint64_t arm_wins[RR_NSTRATEGIES];
};

/* ---- scenario parameters (repro.c) ----
 * One table of NAME=VALUE pairs, one limit for each, everywhere a parameter
 * travels: --param, the run configuration, a cell, a reproducer. */
#define RR_MAX_PARAMS 16
#define RR_PARAM_NAME 64
#define RR_PARAM_VALUE 512 /* exec mode: command lines, paths */
struct rr__params {
	int n;
	char names[RR_MAX_PARAMS][RR_PARAM_NAME];
	char values[RR_MAX_PARAMS][RR_PARAM_VALUE];
};
/* The value of NAME, or NULL when it is not set. */
const char *rr__params_get(const struct rr__params *p, const char *name);
/* Sets NAME (replacing an earlier value). Returns 0, or -1 when the table is
 * full or NAME or VALUE is longer than the limits. */
int rr__params_set(struct rr__params *p, const char *name, const char *value);
/* SC's declaration of NAME, or NULL. */
const struct rr_param *rr__param_decl(const struct rr_scenario *sc, const char *name);
/* Is VALUE acceptable for parameter P? A parameter whose default is an
 * integer takes integers only (what rr_param_int accepts). 0, or -1 after a
 * one-line reason in WHY. */
int rr__param_value_check(const struct rr_param *p, const char *value, char *why, size_t cap);

/* ---- run configuration (cli.c makes it, supervisor.c runs it) ---- */
struct rr__run_config {
	const struct rr_scenario *scenario;
	const struct rr_variant *variant;
	int strategy;
	uint64_t seed;
	int seed_given;
	int exact_seed; /* replay: every iteration uses SEED itself, not a derived one */
	uint32_t pct_depth;
	uint32_t pct_steps; /* 0: learn from the first iterations */
	uint8_t *input;
	uint32_t ninput;
	uint64_t iterations; /* 0: until duration */
	uint64_t duration_ns; /* 0: until iterations */
	int jobs;
	uint64_t timeout_ns; /* per-iteration watchdog */
	int no_fork;
	int quiet;
	int keep_cores; /* keep crash cores in failures/ after taking backtraces */
	int forensics;  /* exec: gdb backtraces of a crashed program (a run with a report) */
	int stop_at_first_failure; /* bench: end the cell at its first finding */
	struct rr__params params; /* only parameters the scenario declares */
};

/* The context a worker (or the fuzz adapter, or --no-fork) runs iterations
 * in. Set once per process. */
struct rr__context {
	const struct rr__run_config *cfg;
	struct rr__worker_shm *shm;
	int in_process; /* no worker: rr_bug aborts instead of exiting */
	int shm_fd;     /* the memfd behind SHM in a worker (exec mode hands it on), or -1 */
	const char *san_prefix; /* the worker's sanitizer log prefix (exec mode hands it on) */
	/* Whom a finding names when it is not the calling slot: exec mode's
	 * worker reports what happened in the program's threads. */
	const char *finding_role;
};
extern struct rr__context rr__ctx;

/* sched.c */
/* Interleaving feedback for the fuzz adapters: called (when set) each time a
 * race point is taken by a different thread than the previous one, with
 * hashes of the two points' names. Set once per process. */
extern void (*rr__pair_hook)(uint32_t prev_point, uint32_t point);
/* Abstract reads-from feedback, under controlled strategies: at each race
 * point, for every other thread that has taken one, the pair (its last
 * event -> this event), an event being (role, point name, how many times
 * this thread took that point, capped at 7), becomes one bit of an
 * RR_RF_BITS map (struct rr__sched.rf_map). When both threads' objects are
 * known (rr_point_on, the wrappers) only pairs on the same object count:
 * steps on different objects commute, and their order is not a new
 * interleaving. Called (when set) with each bit's index the first time it is
 * set in an iteration. Set once per process. */
extern void (*rr__rf_hook)(uint32_t bit);
void rr__sched_begin(struct rr__sched *s, int strategy, uint64_t seed, const uint8_t *input,
		     uint32_t ninput, uint32_t pct_depth, uint32_t pct_steps, const char *main_role);
void rr__sched_end(struct rr__sched *s);
int rr__sched_self(void);
void rr__trace_note(const char *point, const char *fmt, ...) RR_PRINTF(2, 3);
uint64_t rr__mono_ns(void);
/* The trace as a readable table; returns the number of lines written. */
int rr__trace_print(FILE *f, const struct rr__sched *s, const char *failure, int max_lines);
/* The sequence of (thread, point) pairs, for replay --check. */
uint64_t rr__trace_hash(const struct rr__sched *s);
/* First step at which two traces differ, or -1. */
long rr__trace_diverge(const struct rr__sched *a, const struct rr__sched *b);

/* sched.c, exec mode: the scheduler as the preloaded runtime
 * (harness/runtime/) and the exec target (harness/exec.c) drive it. */
int rr__slot_add(const char *role, int pid);
struct rr__slot *rr__slot_get(int id);
void rr__sched_attach(struct rr__sched *s, int slot);
void rr__sched_set_self(int slot);
void rr__sched_wait_token(void);
void rr__sched_point(const char *name, const char *detail);
/* Returns 0, ETIMEDOUT, or EAGAIN when the iteration was released to
 * free-running while parked (the caller then makes the real call). */
int rr__sched_park(uint64_t obj, uint64_t timeout_ns, const char *what, int kind);
void rr__sched_wake(uint64_t obj, int all);
int rr__sched_wait_fds(struct pollfd *fds, nfds_t nfds, int timeout_ms, const char *what);
uint64_t rr__sched_vtime(void);
void rr__sched_leave(void);
void rr__sched_process_exit(int pid);
void rr__sched_reap_pid(int pid);
void rr__sched_release(struct rr__sched *s, const char *why);
/* runtime/rt.c: TSan's ignore-sync annotations when the program the runtime
 * is preloaded into has TSan (BEGIN 1 or 0), nothing otherwise; sched.c
 * brackets its bookkeeping with it in the runtime build. */
void rr__rt_tsan_ignore(int begin);

/* exec.c: the pseudo-scenario "exec:COMMAND LINE" (not in the registry). */
const struct rr_scenario *rr__exec_scenario(const char *name);
/* The SHA-256 of FILE as 64 hex digits; 0, or -errno. */
int rr__file_sha256(const char *path, char out[65]);
/* Exec mode: call sites "prog+0x1a2b" in S's trace and in MSG become
 * file:line (one addr2line run). Does nothing for other scenarios. */
void rr__exec_symbolize(struct rr__sched *s, char *msg, size_t msgcap);
/* ARGC words of ARGV joined by spaces into OUT (CAP bytes), a space or a
 * backslash inside a word escaped as "\ " or "\\": the form of the exec:
 * target's command-line parameter. */
void rr__exec_join(char **argv, int argc, char *out, size_t cap);

/* affinity.c: gives the calling thread the worker's CPUs back if rr_pin_role
 * narrowed them (rr__sched_end calls it on the iterate() thread). */
void rr__affinity_iteration_end(void);

/* seed.c: timing seeds and the option parsers (the reproducer file is repro.h) */
uint64_t rr__splitmix64(uint64_t *state);
uint64_t rr__iteration_seed(uint64_t run_seed, uint64_t index);
int rr__parse_u64(const char *s, uint64_t *out);
/* The next word of a space-separated list at *P: returns its start and sets
 * *LEN, moving *P past it; NULL once only spaces are left. */
const char *rr__next_word(const char **p, size_t *len);
int rr__parse_duration(const char *s, uint64_t *ns);


/* lifetime.c: the quarantine oracle for builds without ASan. The engine calls
 * this after every iteration that returned (engine.c, wherever it runs): it
 * checks the poison of quarantined objects and calls rr_bug on a change. */
void rr__lifetime_iteration_end(void);

/* ftok_audit.c: `racerepro ftok-audit ...`; ARGV[0] is "ftok-audit".
 * Returns the process exit code (0 no collision, 1 collision, 2 bad input). */
int rr__cmd_ftok_audit(int argc, char **argv);

/* registry.c */
extern const struct rr_scenario *const rr__registry[];
const struct rr_scenario *rr__scenario_find(const char *name);
const struct rr_variant *rr__variant_find(const struct rr_scenario *sc, const char *name);

/* A scenario child process ended in a finding: end this worker the same way. */
RR_NORETURN void rr__propagate_child(int status);
/* The scheduler found every thread parked with nothing able to wake one. */
RR_NORETURN void rr__deadlock(const char *why);

/* Ends this process at once with CODE, like _exit but without the
 * sanitizers' exit-time checks: a finding ends a worker whose other threads
 * are still running, and TSan must not turn that into a thread-leak report
 * that hides the finding. */
RR_NORETURN void rr__exit_now(int code);

/* The one iteration numbering every message, event and summary uses: the
 * iteration with index I (0-based, the index that picks its seed) is
 * "iteration I + 1", the first iteration being iteration 1. */
static inline uint64_t rr__iteration_number(uint64_t index)
{
	return index + 1;
}

/* ---- private folders and the stale sweep (sweep.c) ---- */
/* Where scratch folders go ($RR_SCRATCH_BASE, else /dev/shm, $TMPDIR, /tmp)
 * and where the driver's temporary log folders go ($RR_SCRATCH_BASE, else
 * $TMPDIR, /tmp). */
const char *rr__scratch_base(void);
const char *rr__tmp_base(void);
/* mkdtemp BASE/racerepro-<pid>-XXXXXX holding its lock: the lock's fd (keep
 * it open while the folder is in use), or -errno. */
int rr__private_dir(const char *base, char *out, size_t cap);
/* Puts a held lock file into an existing folder: its fd, or -errno. */
int rr__hold_dir(const char *dir);
/* Before removing a held folder: unlinks its lock file and closes LOCK_FD. */
void rr__drop_dir(const char *dir, int lock_fd);
/* Records tracked slot SLOT = SHMID (-1: free) in DIR's segments registry. */
void rr__record_shm(const char *dir, int slot, int shmid);
/* Removes the private folders (and their recorded segments) in the scratch
 * and temporary bases whose owners are provably dead; returns how many. */
int rr__sweep_stale(void);
/* The same for REPORTS/<run>/workers folders of killed runs. */
int rr__sweep_workers(const char *reports);

/* Harness failure: prints "racerepro: WHAT" and exits the worker with the
 * error code (the CLI with RR_EXIT_ENV). */
RR_NORETURN void rr__fatal(const char *fmt, ...) RR_PRINTF(1, 2);

#endif /* RR_INTERNAL_H */
