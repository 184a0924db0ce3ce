/*
 * sched.c: race points, the run token, the thread registry and the blocking
 * wrappers.
 *
 * Under a controlled strategy exactly one registered thread holds the run
 * token (struct rr__sched.token, a futex word in shared memory so that forked
 * scenario processes take part too). The holder gives it up only at a race
 * point or inside a blocking wrapper; the strategy picks the next holder among
 * the runnable threads. A blocking wrapper first tries its operation without
 * blocking; if it would block, the caller is parked on the object and becomes
 * runnable when the object is ready. Virtual time advances only when every
 * thread is parked, straight to the earliest deadline.
 *
 * The hand-off must be invisible to ThreadSanitizer: if passing the token gave
 * TSan a happens-before edge, every two steps of different threads would look
 * ordered and TSan would miss exactly the races we are looking for. So the
 * token moves through atomics and raw futex syscalls (TSan does not intercept
 * those), and in TSan builds the scheduler's own bookkeeping runs inside
 * TSan's ignore-reads/writes/sync annotations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rr_internal.h"
#include "strategy.h"
#include "sanitizer.h"
#include "trace.h"

#if defined(RR_BUILD_TSAN)
#define TSAN_IGNORE_BEGIN()                                                                        \
	do {                                                                                       \
		AnnotateIgnoreReadsBegin(__FILE__, __LINE__);                                      \
		AnnotateIgnoreWritesBegin(__FILE__, __LINE__);                                     \
		AnnotateIgnoreSyncBegin(__FILE__, __LINE__);                                       \
	} while (0)
#define TSAN_IGNORE_END()                                                                          \
	do {                                                                                       \
		AnnotateIgnoreSyncEnd(__FILE__, __LINE__);                                         \
		AnnotateIgnoreWritesEnd(__FILE__, __LINE__);                                       \
		AnnotateIgnoreReadsEnd(__FILE__, __LINE__);                                        \
	} while (0)
#elif defined(RR_RUNTIME)
/* The exec runtime is not instrumented, but the program it is preloaded into
 * may be built with TSan: the runtime finds TSan's annotations at start-up. */
#define TSAN_IGNORE_BEGIN() rr__rt_tsan_ignore(1)
#define TSAN_IGNORE_END() rr__rt_tsan_ignore(0)
#else
#define TSAN_IGNORE_BEGIN() ((void)0)
#define TSAN_IGNORE_END() ((void)0)
#endif

#define VTIME_BASE 1000000000ull /* virtual time starts at 1 s, never 0 */


struct rr_thread {
	pthread_t tid;
	int slot;
	void *(*fn)(void *);
	void *arg;
	void *result;
};
static struct rr_thread thread_pool[RR_MAX_THREADS];

uint64_t rr__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int rr_controlled(void)
{
	return rr__cur && rr__cur->controlled && rr__self >= 0;
}

static int futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	return (int)syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Reads-from feedback                                                       */
/* ------------------------------------------------------------------------ */

void (*rr__rf_hook)(uint32_t bit);

static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static void set_bit(uint32_t bit)
{
	uint8_t mask = (uint8_t)(1u << (bit & 7));
	if (rr__cur->rf_map[bit >> 3] & mask)
		return;
	rr__cur->rf_map[bit >> 3] |= mask;
	rr__cur->rf_count++;
	if (rr__cur->nrf_log < RR_RF_LOG && rr__cur->ncut) {
		struct rr__rf_log *l = &rr__cur->rf_log[rr__cur->nrf_log++];
		l->bit = (uint16_t)bit;
		l->cut = (uint16_t)(rr__cur->ncut - 1);
	}
	if (rr__rf_hook)
		rr__rf_hook(bit);
}

/* SL takes the point NAME: the reads-from pairs it makes with every other
 * thread's last event (rr__rf_hook in rr_internal.h). Controlled runs only:
 * the token holder is the only thread reading the slots.
 *
 * Progress counts beside the pairs, from the same pass over the slots: how
 * many other threads had already ended and how many had not yet been let
 * past a point, one bit per (event, count) for each. A pair says that some
 * thread stood between two of its steps when the event happened; an
 * ordering bug among many threads of one kind (the hard cell: the checker
 * must read while no setter has finished) needs many of them held back at
 * once, and the counts tell a schedule that held one more back from one that
 * did not, so the greybox loop keeps it and its children inherit the
 * holding (greybox.c). */
static void feed_reads_from(struct rr__slot *sl, const char *name)
{
	uint32_t h = fnv1a(name), occ = 0;
	int k;
	for (k = 0; k < 12 && sl->occ_count[k]; k++)
		if (sl->occ_hash[k] == h)
			break;
	if (k < 12) {
		if (!sl->occ_count[k])
			sl->occ_hash[k] = h;
		if (sl->occ_count[k] < 8)
			sl->occ_count[k]++;
		occ = sl->occ_count[k] - 1u;
	} else {
		occ = 7; /* more distinct points than tracked: count as often seen */
	}
	uint32_t ev = mix32(sl->role_hash ^ mix32(h + occ)) | 1u; /* never 0 */
	uint32_t ended = 0, unstarted = 0;
	for (int i = 0; i < rr__cur->nslots; i++) {
		struct rr__slot *o = &rr__cur->slots[i];
		if (o == sl || o->state == RR_SLOT_FREE)
			continue;
		if (o->state == RR_SLOT_EXITED)
			ended++;
		else if (!o->progressed)
			unstarted++;
		if (!o->rf_event || (sl->obj && o->obj && sl->obj != o->obj))
			continue;
		set_bit(mix32(o->rf_event * 0x9e3779b1u ^ ev) % RR_RF_BITS);
	}
	set_bit(mix32(ev ^ mix32(0x10000u + ended)) % RR_RF_BITS);
	set_bit(mix32(ev ^ mix32(0x20000u + unstarted)) % RR_RF_BITS);
	sl->rf_event = ev;
}

/* ------------------------------------------------------------------------ */
/* Choosing the next thread                                                  */
/* ------------------------------------------------------------------------ */

static int slot_ready(struct rr__slot *sl)
{
	if (sl->state == RR_SLOT_RUNNABLE)
		return 1;
	if (sl->state != RR_SLOT_PARKED)
		return 0;
	if (sl->deadline && rr__cur->vtime >= sl->deadline) {
		sl->timed_out = 1;
		return 1;
	}
	switch (sl->wait_kind) {
	case RR_WAIT_OBJECT:
		return sl->woken;
	case RR_WAIT_SLOT:
		return rr__cur->slots[sl->wait_obj].state == RR_SLOT_EXITED;
	case RR_WAIT_FD:
		/* Readiness of another process's fds cannot be seen from here;
		 * its owner rechecks when it gets the token some other way. */
		if (sl->pid != getpid())
			return 0;
		{
			struct pollfd fds[RR_MAX_FDS];
			memcpy(fds, sl->fds, sizeof fds);
			return poll(fds, (nfds_t)sl->nfds, 0) != 0;
		}
	case RR_WAIT_PRED:
		return sl->pid == getpid() && sl->pred(sl->pred_arg);
	case RR_WAIT_TIME:
	default:
		return 0;
	}
}

static void describe_deadlock(char *buf, size_t cap)
{
	size_t len = (size_t)snprintf(buf, cap, "deadlock: every thread is parked:");
	for (int i = 0; i < rr__cur->nslots && len < cap; i++) {
		struct rr__slot *sl = &rr__cur->slots[i];
		if (sl->state == RR_SLOT_PARKED)
			len += (size_t)snprintf(buf + len, cap - len, " %s waits on %s;", sl->role,
						sl->waiting_on);
	}
	/* A wait on a thread that is gone reads differently from a wait on one
	 * that is parked: name the threads that already exited (or none). */
	int exited = 0;
	for (int i = 0; i < rr__cur->nslots && len < cap; i++) {
		struct rr__slot *sl = &rr__cur->slots[i];
		if (sl->state == RR_SLOT_EXITED)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s",
						exited++ ? ", " : " already exited: ", sl->role);
	}
	if (!exited && len < cap)
		snprintf(buf + len, cap - len, " no thread has exited");
}

/* Fills RUNNABLE (slot ids, ascending, rotated so that CURRENT comes first if
 * it is runnable) and returns how many; advances virtual time when nothing is
 * runnable; ends the iteration as a hang when nothing can ever be. */
static int collect_runnable(int current, int *runnable)
{
	uint64_t grace_until = 0;
	for (;;) {
		int n = 0, first = -1;
		for (int i = 0; i < rr__cur->nslots; i++) {
			if (slot_ready(&rr__cur->slots[i])) {
				if (i == current)
					first = n;
				runnable[n++] = i;
			}
		}
		if (n > 0) {
			if (first > 0) { /* rotate: the current thread is choice 0 */
				int tmp[RR_MAX_THREADS];
				for (int k = 0; k < n; k++)
					tmp[k] = runnable[(first + k) % n];
				memcpy(runnable, tmp, (size_t)n * sizeof *runnable);
			}
			return n;
		}
		uint64_t next = 0;
		for (int i = 0; i < rr__cur->nslots; i++) {
			struct rr__slot *sl = &rr__cur->slots[i];
			if (sl->state == RR_SLOT_PARKED && sl->deadline &&
			    (next == 0 || sl->deadline < next))
				next = sl->deadline;
		}
		if (next) {
			rr__cur->vtime = next;
			struct rr__event *e = rr__trace_add(RR_EV_TIME, "time");
			if (e)
				snprintf(e->detail, sizeof e->detail, "virtual clock advances to %.3f ms",
					 (double)(next - VTIME_BASE) / 1e6);
			continue;
		}
		/* Nothing ready and no timer: the kernel may still be delivering
		 * (a datagram, an io_uring completion); give it a moment of real
		 * time before calling it a deadlock. */
		uint64_t now = rr__mono_ns();
		if (!grace_until)
			grace_until = now + 200000000ull;
		if (now > grace_until) {
			char why[RR_MSG];
			describe_deadlock(why, sizeof why);
			rr__deadlock(why);
		}
		struct timespec ts = {0, 50000};
		nanosleep(&ts, NULL);
	}
}

/* Waits on the caller's own futex word until the token is the caller's, or
 * until the iteration was released to free-running (exec mode's stall
 * detector, which bumps every slot's word). */
static void wait_for_token(void)
{
	uint32_t *word = &rr__cur->slots[rr__self].wake;
	for (;;) {
		uint32_t seen = __atomic_load_n(word, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&rr__cur->token, __ATOMIC_SEQ_CST) == (uint32_t)rr__self ||
		    !__atomic_load_n(&rr__cur->controlled, __ATOMIC_SEQ_CST))
			return;
		futex(word, FUTEX_WAIT, seen, NULL);
	}
}

/* Gives the token to NEXT and, unless NEXT is the caller, waits until the
 * token comes back. Only NEXT's word is woken: a switch costs the same with
 * 2 threads or 256. Called with the TSan ignore annotations active. */
static void hand_off(int next)
{
	__atomic_store_n(&rr__cur->token, (uint32_t)next, __ATOMIC_SEQ_CST);
	if (next == rr__self)
		return;
	__atomic_fetch_add(&rr__cur->slots[next].wake, 1, __ATOMIC_SEQ_CST);
	futex(&rr__cur->slots[next].wake, FUTEX_WAKE, INT_MAX, NULL);
	if (rr__cur->slots[rr__self].state == RR_SLOT_EXITED)
		return;
	wait_for_token();
}

/* A scheduling decision by the token holder. */
static void reschedule(void)
{
	int runnable[RR_MAX_THREADS];
	int n = collect_runnable(rr__self, runnable);
	int current_runnable = runnable[0] == rr__self;
	int choice = 0;
	rr__cur->steps++;
	rr__cur->current = rr__self;
	rr__strategy_step(rr__cur);
	if (n > 1) {
		choice = rr__strategy_choose(rr__cur, runnable, n, current_runnable);
		if (rr__cur->ndecisions < RR_MAX_SCHEDULE)
			rr__cur->decisions[rr__cur->ndecisions++] = (uint8_t)choice;
		if (current_runnable && choice != 0)
			rr__cur->preemptions++;
	}
	int preempted = n > 1 && current_runnable && choice != 0;
	int next = runnable[choice];
	struct rr__slot *ns = &rr__cur->slots[next];
	if (ns->pending) {
		ns->pending = 0;
		ns->progressed = 1;
		if (ns->role_idx >= 0 && ns->role_idx < RR_MAX_THREADS)
			rr__cur->role_passed[ns->role_idx]++;
	}
	if (ns->state == RR_SLOT_PARKED) {
		ns->state = RR_SLOT_RUNNABLE;
		ns->wait_kind = RR_WAIT_NONE;
	}
	if (next != rr__self) {
		struct rr__event *e = rr__trace_add(RR_EV_SWITCH, "switch");
		if (e)
			snprintf(e->detail, sizeof e->detail, "%s -> %s%s", rr__cur->slots[rr__self].role,
				 ns->role, preempted ? " (preemption)" : "");
	}
	hand_off(next);
}

/* Where every role stands as SL reaches a race point (struct rr__sched.cut).
 * Only abstract schedules are made from runs (greybox.c), so other runs
 * skip it. */
static void note_cut(const struct rr__slot *sl)
{
	if (!rr__cur->abstract || sl->role_idx < 0 || sl->role_idx >= RR_CUT_ROLES || rr__cur->ncut >= RR_CUT_EVENTS)
		return;
	struct rr__cut *c = &rr__cur->cut[rr__cur->ncut++];
	c->role = (uint8_t)sl->role_idx;
	c->k = (uint16_t)(rr__cur->role_points[sl->role_idx] - 1);
	for (int r = 0; r < RR_CUT_ROLES; r++)
		c->passed[r] = (uint8_t)(rr__cur->role_passed[r] > 255 ? 255 : rr__cur->role_passed[r]);
}

/* A race point under a controlled strategy: the caller finished the step
 * that touched its previous object and is about to touch OBJ (a key, 0 when
 * unknown). NAMED: a scenario's own rr_point, not one inside a wrapper. */
static void point_on(const char *name, uint64_t obj, int named)
{
	TSAN_IGNORE_BEGIN();
	struct rr__slot *sl = &rr__cur->slots[rr__self];
	rr__copy_name(sl->last_point, RR_NAME, name);
	sl->obj_done = sl->obj;
	sl->obj = obj;
	sl->at_named = named;
	if (named)
		sl->named++;
	if (sl->role_idx >= 0 && sl->role_idx < RR_MAX_THREADS)
		rr__cur->role_points[sl->role_idx]++;
	sl->pending = 1;
	note_cut(sl);
	feed_reads_from(sl, name);
	rr__trace_add(RR_EV_POINT, name);
	reschedule();
	TSAN_IGNORE_END();
}

/* A wrapper's race point. */
static void point_controlled(const char *name, uint64_t obj)
{
	point_on(name, obj, 0);
}

void rr_point(const char *name)
{
	rr_point_on(name, NULL);
}

void rr_point_on(const char *name, const void *obj)
{
	if (!rr__cur || rr__self < 0)
		return;
	if (rr__cur->controlled) {
		point_on(name, (uint64_t)(uintptr_t)obj, 1);
		return;
	}
	/* Each thread writes only its own slot: where it was, should it die. */
	rr__copy_name(rr__cur->slots[rr__self].last_point, RR_NAME, name);
	rr__trace_add(RR_EV_POINT, name);
	rr__strategy_perturb(rr__cur, &rr__cur->slots[rr__self]);
}

/* Parks the caller until its wait is satisfied (or its deadline passes).
 * Returns ETIMEDOUT if the deadline ended the wait. */
static int park(int kind, uint64_t obj, uint64_t timeout_ns, const char *what)
{
	TSAN_IGNORE_BEGIN();
	struct rr__slot *sl = &rr__cur->slots[rr__self];
	sl->wait_kind = kind;
	sl->wait_obj = obj;
	sl->wait_seq = rr__cur->wait_seq_next++;
	sl->woken = 0;
	sl->timed_out = 0;
	sl->deadline = timeout_ns ? rr__cur->vtime + timeout_ns : 0;
	rr__copy_name(sl->waiting_on, sizeof sl->waiting_on, what);
	sl->state = RR_SLOT_PARKED;
	/* The step since the last point tried the operation (a trylock, a
	 * zero-timeout poll) and found it would block: it touched the object;
	 * what the thread waits for is its pending step now. */
	sl->obj_done = sl->obj;
	if (kind == RR_WAIT_OBJECT)
		sl->obj = obj;
	else if (kind == RR_WAIT_SLOT)
		sl->obj = RR_OBJ_SLOT(obj);
	struct rr__event *e = rr__trace_add(RR_EV_NOTE, sl->last_point);
	if (e)
		snprintf(e->detail, sizeof e->detail, "waits for %s", what);
	reschedule();
	int rc = sl->timed_out ? ETIMEDOUT : 0;
	if (!__atomic_load_n(&rr__cur->controlled, __ATOMIC_SEQ_CST))
		rc = EAGAIN; /* released to free-running: the wait was not satisfied */
	sl->state = RR_SLOT_RUNNABLE;
	sl->wait_kind = RR_WAIT_NONE;
	sl->deadline = 0;
	TSAN_IGNORE_END();
	return rc;
}

/* Wakes the threads parked on OBJ: all of them, or the longest waiting. */
static void wake_object(uint64_t obj, int all)
{
	TSAN_IGNORE_BEGIN();
	int best = -1;
	for (int i = 0; i < rr__cur->nslots; i++) {
		struct rr__slot *sl = &rr__cur->slots[i];
		if (sl->state != RR_SLOT_PARKED || sl->wait_kind != RR_WAIT_OBJECT ||
		    sl->wait_obj != obj || sl->woken)
			continue;
		if (all)
			sl->woken = 1;
		else if (best < 0 || sl->wait_seq < rr__cur->slots[best].wait_seq)
			best = i;
	}
	if (best >= 0)
		rr__cur->slots[best].woken = 1;
	TSAN_IGNORE_END();
}

/* ------------------------------------------------------------------------ */
/* Iterations                                                                */
/* ------------------------------------------------------------------------ */

void rr__sched_begin(struct rr__sched *s, int strategy, uint64_t seed, const uint8_t *input,
		     uint32_t ninput, uint32_t pct_depth, uint32_t pct_steps, const char *main_role)
{
	/* Only the header is reset: events and decisions are overwritten as they
	 * are appended, and clearing 400 KiB per iteration would cost more than
	 * many scenarios' whole episode. */
	memset(s, 0, offsetof(struct rr__sched, input));
	/* add_slot clears each slot it takes; only slot 0 is taken here. */
	memset(&s->slots[0], 0, sizeof s->slots[0]);
	s->strategy = strategy;
	s->controlled = rr__strategy_controlled(strategy);
	s->seed = seed;
	s->rng = seed;
	s->vtime = VTIME_BASE;
	s->pct_depth = pct_depth;
	s->pct_steps = pct_steps;
	if (input && ninput) {
		s->ninput = ninput > RR_MAX_SCHEDULE ? RR_MAX_SCHEDULE : ninput;
		memcpy(s->input, input, s->ninput);
	}
	s->nslots = 1;
	struct rr__slot *sl = &s->slots[0];
	sl->state = RR_SLOT_RUNNABLE;
	sl->pid = getpid();
	rr__copy_name(sl->role, sizeof sl->role, main_role);
	sl->role_hash = fnv1a(sl->role);
	rr__strategy_begin(s);
	rr__strategy_thread_added(s, 0);
	s->token = 0;
	rr__self = 0;
	rr__trace_reset_pairs();
	rr__cur = s;
}

void rr__sched_end(struct rr__sched *s)
{
	for (int i = 1; i < s->nslots; i++) {
		if (s->slots[i].state != RR_SLOT_EXITED)
			rr__fatal("scenario left thread %d (%s) running at the end of the iteration: "
				  "join every thread before iterate() returns",
				  i, s->slots[i].role);
	}
	rr__strategy_end(s);
	rr__affinity_iteration_end();
	rr__cur = NULL;
	rr__self = -1;
}

RR_NORETURN void rr__deadlock(const char *why)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	if (w) {
		rr__copy_name(w->message, sizeof w->message, why);
		rr__copy_name(w->finding_role, sizeof w->finding_role, rr_role());
		__atomic_store_n(&w->finding, RR_HANG, __ATOMIC_SEQ_CST);
	}
	if (rr__ctx.in_process) {
		fprintf(stderr, "racerepro: hang: %s\n", why);
		abort();
	}
	rr__exit_now(RR_WEXIT_HANG);
}


/* ------------------------------------------------------------------------ */
/* Threads and processes                                                     */
/* ------------------------------------------------------------------------ */

static int add_slot(const char *role, int pid)
{
	if (rr__cur->nslots >= RR_MAX_THREADS)
		rr__fatal("more than %d threads in one iteration", RR_MAX_THREADS);
	int id = rr__cur->nslots;
	struct rr__slot *sl = &rr__cur->slots[id];
	/* The wake word survives: a straggler of an earlier iteration may still
	 * be in FUTEX_WAIT on it, and a word that went back to a value it had
	 * seen could leave it asleep. */
	uint32_t wake = sl->wake;
	memset(sl, 0, sizeof *sl);
	sl->wake = wake;
	sl->state = RR_SLOT_RUNNABLE;
	sl->pid = pid;
	rr__copy_name(sl->role, sizeof sl->role, role);
	sl->role_hash = fnv1a(sl->role);
	rr__strategy_thread_added(rr__cur, id);
	__atomic_store_n(&rr__cur->nslots, id + 1, __ATOMIC_SEQ_CST);
	return id;
}

/* The caller's last step: it finished what it was about to touch, and its
 * exit is what joiners wait for. */
static void thread_exit_controlled(void)
{
	struct rr__slot *sl = &rr__cur->slots[rr__self];
	rr__trace_add(RR_EV_EXIT, "exit");
	sl->obj_done = sl->obj;
	sl->obj = RR_OBJ_SLOT(rr__self);
	sl->at_named = 0;
	sl->state = RR_SLOT_EXITED;
	reschedule();
}

static void *thread_trampoline(void *p)
{
	struct rr_thread *t = p;
	rr__self = t->slot;
	if (rr__cur->controlled) {
		TSAN_IGNORE_BEGIN();
		wait_for_token();
		TSAN_IGNORE_END();
	}
	t->result = t->fn(t->arg);
	if (rr__cur->controlled) {
		TSAN_IGNORE_BEGIN();
		thread_exit_controlled();
		TSAN_IGNORE_END();
	} else {
		__atomic_store_n(&rr__cur->slots[rr__self].state, RR_SLOT_EXITED, __ATOMIC_RELEASE);
	}
	rr__self = -1;
	return NULL;
}

struct rr_thread *rr_thread_start(const char *role, void *(*fn)(void *), void *arg)
{
	if (!rr__cur || rr__self < 0)
		rr__fatal("rr_thread_start(%s) called outside an iteration", role);
	TSAN_IGNORE_BEGIN();
	int id = add_slot(role, getpid());
	TSAN_IGNORE_END();
	struct rr_thread *t = &thread_pool[id];
	t->slot = id;
	t->fn = fn;
	t->arg = arg;
	t->result = NULL;
	int rc = pthread_create(&t->tid, NULL, thread_trampoline, t);
	if (rc != 0) {
		rr__cur->slots[id].state = RR_SLOT_EXITED;
		rr_env_error(rc, "pthread_create(%s): %s", role, strerror(rc));
		return NULL;
	}
	struct rr__event *e = rr__trace_add(RR_EV_START, "start");
	if (e)
		snprintf(e->detail, sizeof e->detail, "started thread %s", role);
	if (rr__cur->controlled)
		point_controlled("thread_start", RR_OBJ_SLOT(id));
	return t;
}

void *rr_thread_join(struct rr_thread *t)
{
	if (!t)
		return NULL;
	if (rr_controlled()) {
		point_controlled("join", RR_OBJ_SLOT(t->slot));
		if (rr__cur->slots[t->slot].state != RR_SLOT_EXITED)
			park(RR_WAIT_SLOT, (uint64_t)t->slot, 0, rr__cur->slots[t->slot].role);
	}
	int rc = pthread_join(t->tid, NULL);
	if (rc != 0)
		rr__fatal("pthread_join: %s", strerror(rc));
	return t->result;
}

int rr_process_start(const char *role, int (*fn)(void *), void *arg)
{
	if (!rr__cur || rr__self < 0)
		rr__fatal("rr_process_start(%s) called outside an iteration", role);
	TSAN_IGNORE_BEGIN();
	int id = add_slot(role, 0);
	TSAN_IGNORE_END();
	fflush(NULL);
	/* Nothing the harness starts may outlive its worker: a driver killed
	 * with SIGKILL takes the worker (PR_SET_PDEATHSIG there) and the worker
	 * takes this child. The death signal follows the forking *thread*, so it
	 * is armed only when the worker's main thread forks (every scenario
	 * today); a process started from a scenario thread still dies with the
	 * worker's process group, which the driver kills. */
	pid_t parent = getpid();
	int from_main_thread = (pid_t)syscall(SYS_gettid) == parent;
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		rr__cur->slots[id].state = RR_SLOT_EXITED;
		return rr_env_error(e, "fork(%s): %s", role, strerror(e));
	}
	if (pid == 0) {
		if (from_main_thread) {
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
				rr__fatal("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
			if (getppid() != parent) /* the worker died before the prctl */
				_exit(RR_WEXIT_DONE);
		}
		rr__self = id;
		rr__cur->slots[id].pid = getpid();
		if (rr__cur->controlled)
			wait_for_token();
		int rc = fn(arg);
		rr__cur->slots[rr__self].exit_status = rc;
		if (rr__cur->controlled) {
			thread_exit_controlled();
		} else {
			__atomic_store_n(&rr__cur->slots[rr__self].state, RR_SLOT_EXITED, __ATOMIC_RELEASE);
		}
		_exit(rc & 0xff);
	}
	/* The parent records the pid too, so that it is set before anyone
	 * evaluates the child's waits, whichever process runs first. */
	rr__cur->slots[id].pid = pid;
	struct rr__event *e = rr__trace_add(RR_EV_START, "start");
	if (e)
		snprintf(e->detail, sizeof e->detail, "started process %s", role);
	if (rr__cur->controlled)
		point_controlled("process_start", RR_OBJ_SLOT(id));
	return pid;
}

static int slot_of_pid(int pid)
{
	for (int i = 1; i < rr__cur->nslots; i++)
		if (rr__cur->slots[i].pid == pid)
			return i;
	return -1;
}

int rr_process_wait(int pid)
{
	if (rr_controlled()) {
		int id = slot_of_pid(pid);
		point_controlled("process_wait", id > 0 ? RR_OBJ_SLOT(id) : 0);
		if (id > 0 && rr__cur->slots[id].state != RR_SLOT_EXITED)
			park(RR_WAIT_SLOT, (uint64_t)id, 0, rr__cur->slots[id].role);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			rr__fatal("waitpid(%d): %s", pid, strerror(errno));
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) < RR_WEXIT_BUG)
		return WEXITSTATUS(st);
	rr__propagate_child(st);
}

/* ------------------------------------------------------------------------ */
/* Mutexes and conditions                                                    */
/* ------------------------------------------------------------------------ */

void rr_mutex_init(struct rr_mutex *m, const char *name)
{
	int rc = pthread_mutex_init(&m->m, NULL);
	if (rc)
		rr__fatal("pthread_mutex_init(%s): %s", name, strerror(rc));
	m->name = name;
}

void rr_mutex_destroy(struct rr_mutex *m)
{
	int rc = pthread_mutex_destroy(&m->m);
	if (rc)
		rr__fatal("pthread_mutex_destroy(%s): %s", m->name, strerror(rc));
}

static void lock_controlled(struct rr_mutex *m)
{
	for (;;) {
		int rc = pthread_mutex_trylock(&m->m);
		if (rc == 0)
			return;
		if (rc != EBUSY)
			rr__fatal("pthread_mutex_trylock(%s): %s", m->name, strerror(rc));
		if (park(RR_WAIT_OBJECT, (uint64_t)(uintptr_t)m, 0, m->name) == EAGAIN) {
			rc = pthread_mutex_lock(&m->m); /* released to free-running */
			if (rc)
				rr__fatal("pthread_mutex_lock(%s): %s", m->name, strerror(rc));
			return;
		}
	}
}

void rr_mutex_lock(struct rr_mutex *m)
{
	if (rr_controlled()) {
		point_controlled("lock", (uint64_t)(uintptr_t)m);
		lock_controlled(m);
		rr__trace_note("lock", "locked %s", m->name);
		return;
	}
	int rc = pthread_mutex_lock(&m->m);
	if (rc)
		rr__fatal("pthread_mutex_lock(%s): %s", m->name, strerror(rc));
}

void rr_mutex_unlock(struct rr_mutex *m)
{
	int rc = pthread_mutex_unlock(&m->m);
	if (rc)
		rr__fatal("pthread_mutex_unlock(%s): %s", m->name, strerror(rc));
	if (rr_controlled()) {
		rr__trace_note("unlock", "unlocked %s", m->name);
		wake_object((uint64_t)(uintptr_t)m, 1);
	}
}

void rr_cond_init(struct rr_cond *c, const char *name)
{
	pthread_condattr_t a;
	int rc = pthread_condattr_init(&a);
	if (!rc)
		rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(&c->c, &a);
	if (rc)
		rr__fatal("pthread_cond_init(%s): %s", name, strerror(rc));
	pthread_condattr_destroy(&a);
	c->name = name;
}

void rr_cond_destroy(struct rr_cond *c)
{
	int rc = pthread_cond_destroy(&c->c);
	if (rc)
		rr__fatal("pthread_cond_destroy(%s): %s", c->name, strerror(rc));
}

static int cond_wait_controlled(struct rr_cond *c, struct rr_mutex *m, uint64_t timeout_ns)
{
	rr_mutex_unlock(m);
	int rc = park(RR_WAIT_OBJECT, (uint64_t)(uintptr_t)c, timeout_ns, c->name);
	lock_controlled(m);
	return rc;
}

void rr_cond_wait(struct rr_cond *c, struct rr_mutex *m)
{
	if (rr_controlled()) {
		cond_wait_controlled(c, m, 0);
		return;
	}
	int rc = pthread_cond_wait(&c->c, &m->m);
	if (rc)
		rr__fatal("pthread_cond_wait(%s): %s", c->name, strerror(rc));
}

int rr_cond_timedwait(struct rr_cond *c, struct rr_mutex *m, uint64_t timeout_ns)
{
	if (rr_controlled())
		return cond_wait_controlled(c, m, timeout_ns ? timeout_ns : 1);
	uint64_t at = rr__mono_ns() + timeout_ns;
	struct timespec ts = {(time_t)(at / 1000000000ull), (long)(at % 1000000000ull)};
	int rc = pthread_cond_timedwait(&c->c, &m->m, &ts);
	if (rc && rc != ETIMEDOUT)
		rr__fatal("pthread_cond_timedwait(%s): %s", c->name, strerror(rc));
	return rc;
}

void rr_cond_signal(struct rr_cond *c)
{
	if (rr_controlled()) {
		wake_object((uint64_t)(uintptr_t)c, 0);
		return;
	}
	int rc = pthread_cond_signal(&c->c);
	if (rc)
		rr__fatal("pthread_cond_signal(%s): %s", c->name, strerror(rc));
}

void rr_cond_broadcast(struct rr_cond *c)
{
	if (rr_controlled()) {
		wake_object((uint64_t)(uintptr_t)c, 1);
		return;
	}
	int rc = pthread_cond_broadcast(&c->c);
	if (rc)
		rr__fatal("pthread_cond_broadcast(%s): %s", c->name, strerror(rc));
}

/* ------------------------------------------------------------------------ */
/* File descriptors                                                          */
/* ------------------------------------------------------------------------ */

#define FD_NAMES 64
static char fd_names[FD_NAMES][24];

/* fd names are trace labels only; threads that race on them race on the
 * labels, not on anything the scenario does, so TSan is told to look away. */
void rr_fd_name(int fd, const char *name)
{
	TSAN_IGNORE_BEGIN();
	if (fd >= 0 && fd < FD_NAMES)
		rr__copy_name(fd_names[fd], sizeof fd_names[fd], name);
	TSAN_IGNORE_END();
}

static const char *fd_label(int fd, char *buf, size_t cap)
{
	TSAN_IGNORE_BEGIN();
	if (fd >= 0 && fd < FD_NAMES && fd_names[fd][0])
		rr__copy_name(buf, cap, fd_names[fd]);
	else
		snprintf(buf, cap, "fd %d", fd);
	TSAN_IGNORE_END();
	return buf;
}

/* Parks until FDS poll ready (or TIMEOUT_MS passes on the harness clock).
 * Returns poll()'s result: 0 on timeout. */
static int poll_controlled(struct pollfd *fds, nfds_t nfds, int timeout_ms, const char *what)
{
	if (nfds > RR_MAX_FDS)
		rr__fatal("rr_poll: at most %d fds under a controlled strategy", RR_MAX_FDS);
	for (;;) {
		int rc = poll(fds, nfds, 0);
		if (rc != 0 || timeout_ms == 0)
			return rc;
		TSAN_IGNORE_BEGIN();
		struct rr__slot *sl = &rr__cur->slots[rr__self];
		memcpy(sl->fds, fds, nfds * sizeof *fds);
		sl->nfds = (int32_t)nfds;
		TSAN_IGNORE_END();
		uint64_t t = timeout_ms > 0 ? (uint64_t)timeout_ms * 1000000ull : 0;
		int pr = park(RR_WAIT_FD, 0, t, what);
		if (pr == ETIMEDOUT)
			return poll(fds, nfds, 0);
		if (pr == EAGAIN) /* released to free-running */
			return poll(fds, nfds, timeout_ms);
	}
}

int rr_poll(struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	if (rr_controlled()) {
		char buf[24];
		point_controlled("poll", nfds ? RR_OBJ_FD(fds[0].fd) : 0);
		return poll_controlled(fds, nfds, timeout_ms,
				       nfds ? fd_label(fds[0].fd, buf, sizeof buf) : "poll timeout");
	}
	return poll(fds, nfds, timeout_ms);
}

static void wait_fd(int fd, short events, const char *point)
{
	char buf[24];
	point_controlled(point, RR_OBJ_FD(fd));
	if (fd < 0)
		return; /* poll() would ignore it; the call itself fails with EBADF */
	struct pollfd p = {.fd = fd, .events = events};
	poll_controlled(&p, 1, -1, fd_label(fd, buf, sizeof buf));
}

static void note_io(const char *op, int fd, ssize_t rc, int err)
{
	char buf[24];
	const char *name = fd_label(fd, buf, sizeof buf);
	if (rc >= 0)
		rr__trace_note(op, "%s %s: %zd bytes", op, name, rc);
	else
		rr__trace_note(op, "%s %s failed: %s", op, name, strerror(err));
}

#define IO_WRAPPER(op, events, call)                                                               \
	do {                                                                                       \
		if (!rr_controlled())                                                              \
			return call;                                                               \
		wait_fd(fd, events, op);                                                           \
		ssize_t rc_ = call;                                                                \
		int err_ = errno;                                                                  \
		note_io(op, fd, rc_, err_);                                                        \
		errno = err_;                                                                      \
		return rc_;                                                                        \
	} while (0)

ssize_t rr_read(int fd, void *buf, size_t len)
{
	IO_WRAPPER("read", POLLIN, read(fd, buf, len));
}

ssize_t rr_write(int fd, const void *buf, size_t len)
{
	IO_WRAPPER("write", POLLOUT, write(fd, buf, len));
}

ssize_t rr_recv(int fd, void *buf, size_t len, int flags)
{
	IO_WRAPPER("recv", POLLIN, recv(fd, buf, len, flags));
}

ssize_t rr_send(int fd, const void *buf, size_t len, int flags)
{
	IO_WRAPPER("send", POLLOUT, send(fd, buf, len, flags));
}

ssize_t rr_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
		    socklen_t *fromlen)
{
	IO_WRAPPER("recvfrom", POLLIN, recvfrom(fd, buf, len, flags, from, fromlen));
}

ssize_t rr_sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
		  socklen_t tolen)
{
	IO_WRAPPER("sendto", POLLOUT, sendto(fd, buf, len, flags, to, tolen));
}

int rr_close(int fd)
{
	char buf[24];
	/* Closing is an interleaving-relevant step: another thread may still be
	 * about to use the fd (the EPIPE of broken_pipe needs a write between
	 * the two closes of a socketpair). */
	if (rr_controlled())
		point_controlled("close", RR_OBJ_FD(fd));
	if (rr__cur && rr__self >= 0)
		rr__trace_note("close", "closed %s", fd_label(fd, buf, sizeof buf));
	TSAN_IGNORE_BEGIN();
	if (fd >= 0 && fd < FD_NAMES)
		fd_names[fd][0] = '\0';
	TSAN_IGNORE_END();
	return close(fd);
}

int rr_wait_until(int (*ready)(void *arg), void *arg, const char *what, uint64_t timeout_ns)
{
	if (rr_controlled()) {
		point_controlled("wait", (uint64_t)(uintptr_t)arg);
		if (ready(arg))
			return 0;
		TSAN_IGNORE_BEGIN();
		rr__cur->slots[rr__self].pred = ready;
		rr__cur->slots[rr__self].pred_arg = arg;
		TSAN_IGNORE_END();
		return park(RR_WAIT_PRED, 0, timeout_ns, what);
	}
	uint64_t deadline = timeout_ns ? rr__mono_ns() + timeout_ns : 0;
	long nap = 1000;
	while (!ready(arg)) {
		if (deadline && rr__mono_ns() >= deadline)
			return ETIMEDOUT;
		struct timespec ts = {0, nap};
		nanosleep(&ts, NULL);
		if (nap < 1000000)
			nap *= 2;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Time                                                                      */
/* ------------------------------------------------------------------------ */

uint64_t rr_now_ns(void)
{
	if (rr_controlled())
		return rr__cur->vtime;
	return rr__mono_ns();
}

void rr_sleep_ns(uint64_t ns)
{
	if (rr_controlled()) {
		point_controlled("sleep", 0);
		park(RR_WAIT_TIME, 0, ns ? ns : 1, "sleep");
		return;
	}
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void rr_timer_start(struct rr_timer *t, const char *name, uint64_t delay_ns)
{
	t->name = name;
	t->deadline_ns = rr_now_ns() + delay_ns;
	t->armed = 1;
}

void rr_timer_cancel(struct rr_timer *t)
{
	t->armed = 0;
}

int rr_timer_due(const struct rr_timer *t)
{
	return t->armed && rr_now_ns() >= t->deadline_ns;
}

int rr_timer_poll_ms(const struct rr_timer *t)
{
	if (!t->armed)
		return -1;
	uint64_t now = rr_now_ns();
	if (now >= t->deadline_ns)
		return 0;
	uint64_t ms = (t->deadline_ns - now + 999999ull) / 1000000ull;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

void rr_work_us(long long us)
{
	if (us <= 0)
		return;
	uint64_t until = rr__mono_ns() + (uint64_t)us * 1000ull;
	while (rr__mono_ns() < until)
		__asm__ __volatile__("" ::: "memory");
}

/* ------------------------------------------------------------------------ */
/* Kernel hand-offs                                                          */
/* ------------------------------------------------------------------------ */

void rr_handoff_send(const void *key)
{
#if defined(RR_BUILD_TSAN)
	__tsan_release((void *)(uintptr_t)key);
#else
	(void)key;
#endif
}

void rr_handoff_recv(const void *key)
{
#if defined(RR_BUILD_TSAN)
	__tsan_acquire((void *)(uintptr_t)key);
#else
	(void)key;
#endif
}

/* ------------------------------------------------------------------------ */
/* Exec mode: the entry points the preloaded runtime and the exec target use */
/* ------------------------------------------------------------------------ */

/* These are the same park/wake, virtual-time and deadlock code the scenario
 * API above uses: one scheduler, two front ends (harness/exec.c starts the
 * program, harness/runtime/ turns its threads into slots). */

int rr__slot_add(const char *role, int pid)
{
	TSAN_IGNORE_BEGIN();
	int id = add_slot(role, pid);
	TSAN_IGNORE_END();
	return id;
}

struct rr__slot *rr__slot_get(int id)
{
	return rr__cur && id >= 0 && id < RR_MAX_THREADS ? &rr__cur->slots[id] : NULL;
}

void rr__sched_attach(struct rr__sched *s, int slot)
{
	rr__cur = s;
	rr__self = slot;
}

void rr__sched_set_self(int slot)
{
	rr__self = slot;
}

void rr__sched_wait_token(void)
{
	if (!rr__cur || rr__self < 0 || !rr__cur->controlled)
		return;
	TSAN_IGNORE_BEGIN();
	wait_for_token();
	TSAN_IGNORE_END();
}

/* A scheduling point with the call site (or any detail) on its trace row. */
void rr__sched_point(const char *name, const char *detail)
{
	if (!rr__cur || rr__self < 0)
		return;
	TSAN_IGNORE_BEGIN();
	rr__copy_name(rr__cur->slots[rr__self].last_point, RR_NAME, name);
	struct rr__event *e = rr__trace_add(RR_EV_POINT, name);
	if (e && detail)
		rr__copy_name(e->detail, sizeof e->detail, detail);
	if (rr__cur->controlled)
		reschedule();
	else
		rr__strategy_perturb(rr__cur, &rr__cur->slots[rr__self]);
	TSAN_IGNORE_END();
}

int rr__sched_park(uint64_t obj, uint64_t timeout_ns, const char *what, int kind)
{
	return park(kind, obj, timeout_ns, what);
}

void rr__sched_wake(uint64_t obj, int all)
{
	wake_object(obj, all);
}

int rr__sched_wait_fds(struct pollfd *fds, nfds_t nfds, int timeout_ms, const char *what)
{
	return poll_controlled(fds, nfds, timeout_ms, what);
}

uint64_t rr__sched_vtime(void)
{
	return rr__cur ? rr__cur->vtime : 0;
}

/* The calling slot leaves the schedule (its thread ends, or the worker hands
 * the iteration to the exec'd program): the token moves on without waiting
 * for it to come back. When no slot is left to take it, it goes nowhere:
 * an exiting process must not call that a deadlock. */
void rr__sched_leave(void)
{
	if (!rr__cur || rr__self < 0)
		return;
	TSAN_IGNORE_BEGIN();
	struct rr__slot *me = &rr__cur->slots[rr__self];
	if (me->state != RR_SLOT_EXITED) {
		rr__trace_add(RR_EV_EXIT, "exit");
		me->state = RR_SLOT_EXITED;
	}
	if (rr__cur->controlled &&
	    __atomic_load_n(&rr__cur->token, __ATOMIC_SEQ_CST) == (uint32_t)rr__self) {
		int any = 0;
		for (int i = 0; i < rr__cur->nslots && !any; i++)
			any = rr__cur->slots[i].state == RR_SLOT_RUNNABLE ||
			      rr__cur->slots[i].state == RR_SLOT_PARKED;
		if (any)
			reschedule();
		else
			__atomic_store_n(&rr__cur->token, UINT32_MAX, __ATOMIC_SEQ_CST);
	}
	TSAN_IGNORE_END();
	rr__self = -1;
}

/* The process PID is ending (exit, main returned): every slot it owns ends
 * with it. Called by the exiting thread, which holds the token. */
void rr__sched_process_exit(int pid)
{
	if (!rr__cur)
		return;
	TSAN_IGNORE_BEGIN();
	for (int i = 0; i < rr__cur->nslots; i++)
		if (i != rr__self && rr__cur->slots[i].pid == pid)
			rr__cur->slots[i].state = RR_SLOT_EXITED;
	TSAN_IGNORE_END();
	rr__sched_leave();
}

/* After waitpid: whatever the process left behind is gone. */
void rr__sched_reap_pid(int pid)
{
	if (!rr__cur)
		return;
	for (int i = 0; i < rr__cur->nslots; i++)
		if (rr__cur->slots[i].pid == pid)
			rr__cur->slots[i].state = RR_SLOT_EXITED;
}

/* The stall detector found the token holder blocked where the scheduler
 * cannot see: from here on the iteration runs free. Every slot's word is
 * bumped so that each waiter sees it; park() returns EAGAIN to its caller,
 * which then makes the real (blocking) call. */
void rr__sched_release(struct rr__sched *s, const char *why)
{
	if (rr__cur == s) {
		struct rr__event *e = rr__trace_add(RR_EV_NOTE, "released");
		if (e)
			snprintf(e->detail, sizeof e->detail, "NONDETERMINISTIC from here: %s", why);
	}
	rr__copy_name(s->released_why, sizeof s->released_why, why);
	__atomic_store_n(&s->released, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->controlled, 0, __ATOMIC_SEQ_CST);
	int n = __atomic_load_n(&s->nslots, __ATOMIC_SEQ_CST);
	for (int i = 0; i < n && i < RR_MAX_THREADS; i++) {
		__atomic_fetch_add(&s->slots[i].wake, 1, __ATOMIC_SEQ_CST);
		futex(&s->slots[i].wake, FUTEX_WAKE, INT_MAX, NULL);
	}
}
