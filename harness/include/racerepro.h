/*
 * racerepro.h: everything a scenario may call, and nothing else.
 *
 * A scenario recreates one documented race with real OS objects. It marks the
 * places where the interleaving matters with race points (rr_point), starts its
 * threads and processes through the harness, and routes every call that may
 * block on another thread through a blocking wrapper below. Under a free-running
 * strategy (none, noise) the wrappers call straight through to the real call;
 * under a controlled strategy (random, pct, input) exactly one scenario thread
 * runs at a time and the wrappers park the caller on the object it waits for,
 * so that a timing seed fixes the whole interleaving.
 *
 * Threading contract: every function here may be called from any thread that
 * the harness started for the current iteration (the iterate() thread, or one
 * started with rr_thread_start / rr_process_start). Calls from other threads
 * (library-internal threads, say) run the plain operation and are not traced.
 */
#ifndef RACEREPRO_H
#define RACEREPRO_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define RR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define RR_NORETURN _Noreturn
#else
#define RR_PRINTF(f, a)
#define RR_NORETURN
#endif

/* ------------------------------------------------------------------------ */
/* Scenario definition                                                       */
/* ------------------------------------------------------------------------ */

/* A variant of a scenario. expect_failure marks a variant that recreates the
 * race as it shipped (an expected failure); the others must never fail. */
/* What a variant with expect_failure set must show to count as reproduced.
 * The default is a finding: rr_bug, a sanitizer report or a crash. A race
 * whose documented symptom upstream is a hang declares it, and then a hang
 * (any hang, or only a deadlock the controlled scheduler proved) is the
 * reproduction, not a miss. */
enum rr_expect {
	RR_EXPECT_FINDING = 0, /* bug, sanitizer or crash */
	RR_EXPECT_HANG,        /* a hang of any kind: watchdog or deadlock */
	RR_EXPECT_DEADLOCK,    /* hang:deadlock only */
};

struct rr_variant {
	const char *name;
	int expect_failure;
	const char *help;
	enum rr_expect expect; /* with expect_failure: the outcome that reproduces */
};

/* The two variants every scenario has; a scenario with more lists its own
 * array, starting with these two, ending with a zeroed record. */
extern const struct rr_variant rr_variants_buggy_fixed[];

/* A scenario parameter: a named value with a default, settable from the CLI
 * with --param NAME=VALUE, shown by `racerepro list`, recorded in every report
 * and reproducer. Values are strings; rr_param_int parses them. */
struct rr_param {
	const char *name;
	const char *def;
	const char *help;
};

struct rr_scenario {
	const char *name;     /* broken_pipe */
	const char *upstream; /* bitcoin-core/libmultiprocess#129 */
	const char *summary;  /* one line */
	const char *symptom;  /* the documented failure of the buggy variant */
	/* Thread roles, NULL-terminated. roles[0] is the thread that runs
	 * iterate(); the others are started with rr_thread_start/rr_process_start. */
	const char *const *roles;
	const struct rr_variant *variants; /* zeroed record ends it */
	const struct rr_param *params;     /* zeroed record ends it; may be NULL */
	/* Once per worker process: make long-lived state. Returns 0, RR_SKIP
	 * (after rr_skip) when a part the scenario needs is missing, or -errno
	 * (after rr_env_error) when the environment failed. */
	int (*setup)(void **state);
	/* One complete episode of the race. Returns 0 when the episode ended
	 * (whether or not the race was hit: a hit calls rr_bug and never returns),
	 * or -errno after rr_env_error. Every thread, process, fd and IPC object it
	 * makes must be gone when it returns. */
	int (*iterate)(void *state);
	/* Once per worker process, after the last iteration. May be NULL. */
	void (*teardown)(void *state);
};

#define RR_SKIP 1

/* ------------------------------------------------------------------------ */
/* Run context                                                               */
/* ------------------------------------------------------------------------ */

/* Nonzero when the current variant is called NAME. */
int rr_variant_is(const char *name);
#define RR_BUGGY rr_variant_is("buggy")
#define RR_FIXED rr_variant_is("fixed")

/* The parameter's value for this run (its default unless set). Asking for a
 * parameter the scenario did not declare is a harness error (exit 3). */
const char *rr_param_str(const char *name);
long long rr_param_int(const char *name);

/* The role name of the calling thread, or "?" outside scenario threads. */
const char *rr_role(void);

/* A fact about the environment that the reports must show, such as which
 * completion backend ran: rr_env_note("backend", "emulated (io_uring_setup:
 * EPERM)"). Printed once per run by the driver and recorded in summary.json. */
void rr_env_note(const char *key, const char *fmt, ...) RR_PRINTF(2, 3);

/* The documented symptom happened. Records MESSAGE (the text a maintainer
 * would recognise, e.g. "write(m_post_fd, &buffer, 1): Broken pipe") as the
 * finding, and ends the iteration at once: the worker exits with the bug code
 * (or, in-process under a fuzzer or --no-fork, abort()s). Never returns. */
RR_NORETURN void rr_bug(const char *fmt, ...) RR_PRINTF(1, 2);

/* The environment failed (a syscall that must work did not). Records the
 * message and returns -err, for `return rr_env_error(errno, "socketpair: %s",
 * strerror(errno));`. The iteration's outcome is `error`, never a finding. */
int rr_env_error(int err, const char *fmt, ...) RR_PRINTF(2, 3);

/* A part the scenario needs is missing; setup returns rr_skip("..."). */
int rr_skip(const char *fmt, ...) RR_PRINTF(1, 2);

/* A per-worker private scratch directory (mode 0700), made on first call,
 * removed by the driver when the worker ends however it ends. */
const char *rr_scratch_dir(void);

/* System V IPC ids the driver must remove (IPC_RMID) if the worker dies
 * before the scenario removes them itself. */
void rr_track_shm(int shmid);
void rr_untrack_shm(int shmid);

/* Busy work standing for upstream's real work between the interesting steps
 * (a cleanup callback, a wake-up handler). Spins on the CPU for US
 * microseconds of real time, in every strategy. */
void rr_work_us(long long us);

/* ------------------------------------------------------------------------ */
/* Race points and the trace                                                 */
/* ------------------------------------------------------------------------ */

/* A place where the interleaving matters. NAME is a string literal naming the
 * step ("async.write_post_fd"). Under a free-running strategy it does nothing
 * (none) or a seeded perturbation (noise); under a controlled one the strategy
 * decides here which thread runs next. Never call it while holding a lock the
 * other threads need only through plain pthread calls: use rr_mutex. */
void rr_point(const char *name);

/* rr_point for a step that touches one shared object: OBJ is its address (or
 * any pointer that stands for it, the same for every thread that touches it;
 * NULL when there is no single one). Schedules exactly like rr_point; the
 * object only tells the search which steps conflict: two steps on different
 * objects commute, so pos reorders only same-object steps and the reads-from
 * feedback pairs only them. Give an object only where it is clearly the one
 * the next step reads or writes. */
void rr_point_on(const char *name, const void *obj);

/* Adds what happened at the current step to the trace ("closed m_wait_fd",
 * "freed pipe"), for `racerepro explain`. Does not schedule. */
void rr_event(const char *fmt, ...) RR_PRINTF(1, 2);

/* Gives an fd a name in the trace ("m_post_fd"); cleared by rr_close. */
void rr_fd_name(int fd, const char *name);

/* ------------------------------------------------------------------------ */
/* Threads and processes                                                     */
/* ------------------------------------------------------------------------ */

struct rr_thread;

/* Starts FN(ARG) on a new thread playing ROLE (one of the scenario's roles).
 * Threads are numbered in start order. Returns NULL after recording an
 * environment error if the thread could not be made. */
struct rr_thread *rr_thread_start(const char *role, void *(*fn)(void *), void *arg);

/* Waits for the thread to end (a blocking wrapper) and returns its result. */
void *rr_thread_join(struct rr_thread *t);

/* Forks a process playing ROLE that runs FN(ARG) and exits with its return
 * value. The child takes part in the schedule like a thread (the run token
 * spans processes). Call only from a single-threaded iterate(). Returns the
 * pid, or -errno. */
int rr_process_start(const char *role, int (*fn)(void *), void *arg);

/* Waits for the child (a blocking wrapper); returns its exit status (0..255).
 * If the child ended in a finding (rr_bug, a sanitizer report, a signal), the
 * calling worker ends with the same finding and this does not return. */
int rr_process_wait(int pid);

/* Pins the calling thread, which plays ROLE (one of the scenario's roles), to a
 * CPU of its own under a free-running strategy (none, noise). The roles are
 * dealt out over the CPUs the worker may use: roles[i] goes to the
 * (i mod n)-th of its n CPUs, so no two roles share a CPU while there are at
 * least as many CPUs as roles, and the same role of every worker of a --jobs
 * run lands on the same CPU. Why: upstream runs such roles on threads that
 * own a core (SPDK's pinned reactors, an IOCP worker waiting on another core);
 * left to the kernel, a thread woken onto the CPU where another role spins
 * waits for that role to be preempted, so the race would measure the
 * kernel's CPU placement instead of the work each side does.
 * Call it from the thread itself, as it starts. Does nothing and returns 0
 * under a controlled strategy (one thread runs at a time: placement cannot change the
 * interleaving) and when the worker may use only one CPU. The affinity of the
 * thread that runs iterate() is restored when the iteration ends; the other
 * threads end with the iteration. Returns 0, or -errno after rr_env_error
 * (an unknown ROLE, or sched_setaffinity failing). */
int rr_pin_role(const char *role);

/* ------------------------------------------------------------------------ */
/* Blocking wrappers                                                         */
/* ------------------------------------------------------------------------ */

/* A mutex and a condition variable that the scheduler understands. They wrap
 * real pthread objects, so TSan sees the same happens-before edges as in the
 * upstream code. NAME appears in traces. Errors from pthread are harness
 * errors (the worker exits with the error code). */
struct rr_mutex {
	pthread_mutex_t m;
	const char *name;
};
struct rr_cond {
	pthread_cond_t c;
	const char *name;
};

void rr_mutex_init(struct rr_mutex *m, const char *name);
void rr_mutex_destroy(struct rr_mutex *m);
void rr_mutex_lock(struct rr_mutex *m);
void rr_mutex_unlock(struct rr_mutex *m);
void rr_cond_init(struct rr_cond *c, const char *name);
void rr_cond_destroy(struct rr_cond *c);
void rr_cond_wait(struct rr_cond *c, struct rr_mutex *m);
/* Returns 0 when signalled (or spuriously woken), ETIMEDOUT after TIMEOUT_NS
 * of harness time (virtual under controlled strategies). */
int rr_cond_timedwait(struct rr_cond *c, struct rr_mutex *m, uint64_t timeout_ns);
void rr_cond_signal(struct rr_cond *c);
void rr_cond_broadcast(struct rr_cond *c);

/* poll(2), with TIMEOUT_MS measured on the harness clock. */
int rr_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms);
/* read/write/recv/send/recvfrom/sendto: the real call, after waiting (as a
 * blocking wrapper) until the fd polls ready. They set errno and return -1
 * exactly as the real call does; a write to a closed pipe gives EPIPE
 * (SIGPIPE is ignored in workers, as bitcoind does). */
ssize_t rr_read(int fd, void *buf, size_t len);
ssize_t rr_write(int fd, const void *buf, size_t len);
ssize_t rr_recv(int fd, void *buf, size_t len, int flags);
ssize_t rr_send(int fd, const void *buf, size_t len, int flags);
ssize_t rr_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		    socklen_t *fromlen);
ssize_t rr_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
		  socklen_t tolen);
/* close(2), traced ("closed m_wait_fd"). */
int rr_close(int fd);

/* Generic wait for harness code and scenarios whose readiness is a
 * predicate: blocks until READY(ARG) returns nonzero, or TIMEOUT_NS of harness
 * time passes (0: no timeout). WHAT names the wait in traces and deadlock
 * reports. Under free-running strategies it polls READY with short sleeps, so
 * prefer a real blocking call there when one exists (see rr_controlled).
 * READY must only read state, and is evaluated by whichever thread of the same
 * process is scheduling. Returns 0 when ready, ETIMEDOUT on timeout. */
int rr_wait_until(int (*ready)(void *arg), void *arg, const char *what, uint64_t timeout_ns);

/* Nonzero when a controlled strategy serializes this iteration. For harness
 * modules (the completion port) that pick a real blocking call otherwise. */
int rr_controlled(void);

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

/* The harness clock in nanoseconds: CLOCK_MONOTONIC under free-running
 * strategies; virtual under controlled ones, where it advances only when every
 * thread is parked, straight to the next deadline. */
uint64_t rr_now_ns(void);
/* Sleeps on the harness clock (a blocking wrapper). */
void rr_sleep_ns(uint64_t ns);

/* A one-shot timer on the harness clock, for timer lists like libre's. The
 * owner checks rr_timer_due() and waits with rr_poll(..., rr_timer_poll_ms()). */
struct rr_timer {
	uint64_t deadline_ns;
	int armed;
	const char *name;
};
void rr_timer_start(struct rr_timer *t, const char *name, uint64_t delay_ns);
void rr_timer_cancel(struct rr_timer *t);
int rr_timer_due(const struct rr_timer *t);
/* Milliseconds until the timer is due (0 if due), rounded up; -1 if disarmed. */
int rr_timer_poll_ms(const struct rr_timer *t);

/* ------------------------------------------------------------------------ */
/* Kernel hand-offs for TSan                                                 */
/* ------------------------------------------------------------------------ */

/* TSan cannot see ordering that passes through the kernel (a byte through a
 * socketpair, an io_uring submission and its completion, a datagram). Where
 * correct code relies on such a hand-off, call rr_handoff_send(KEY) just
 * before the sending syscall and rr_handoff_recv(KEY) just after the receiving
 * one returns, with the same KEY (the address of the object handed over).
 * No-ops outside TSan builds. */
void rr_handoff_send(const void *key);
void rr_handoff_recv(const void *key);

/* ------------------------------------------------------------------------ */
/* Object lifetimes (the oracle for builds without ASan)                     */
/* ------------------------------------------------------------------------ */

/* Allocates a zeroed object that the harness tracks by NAME ("ipc_pipe").
 * Under ASan it is plain calloc/free and ASan reports misuse itself. Without
 * ASan, rr_free poisons the object and keeps it in a quarantine instead of
 * freeing it, so a later rr_touch, or a poison byte found changed when the
 * quarantine is checked (at every iteration's end), reports a `bug` naming the
 * object, the role that freed it and the role that touched it. */
void *rr_alloc(size_t size, const char *name);
void rr_free(void *p);
/* Call before each access through a pointer that may be stale: reports a
 * use-after-free (rr_bug) if P was freed. WHAT names the access. */
void rr_touch(const void *p, const char *what);

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

/* Each scenario file defines exactly one of these, named rr_scenario_<name>,
 * and scenarios/scenarios.def lists it once. */
#define RR_DEFINE_SCENARIO(id) const struct rr_scenario rr_scenario_##id

/* The benchmark's baseline (make BARE=1 defines RR_BARE for scenario files
 * only): the API compiled down to plain calls. */
#ifdef RR_BARE
#include "racerepro_bare.h"
#endif

#endif /* RACEREPRO_H */
