/*
 * rt.c: the exec runtime, preloaded into the user's program by `racerepro
 * exec` (harness/exec.c). It maps the worker's shared scheduler state from
 * the memfd it inherits, claims the slot the worker made for the main thread
 * and gives every thread the program creates a slot of its own. The
 * pthread, sleep and blocking I/O calls below are thin shims onto the same
 * park/wake, virtual-time and deadlock code as the scenario API (sched.c).
 *
 * Rules the shims follow (each learned the hard way by a prototype):
 *  - a new thread runs freely until its first scheduling point, so that a
 *    sanitizer's thread-start handshake finishes before the thread can be
 *    parked; and no point lies between the real pthread_create and its return;
 *  - threads the runtime did not see created (TSan's background thread) are
 *    never slots: every shim calls straight through for them;
 *  - inside the runtime (IN_RT) every shim calls straight through, so the
 *    scheduler's own poll, nanosleep and malloc never recurse into it;
 *  - programs the target execs run without the preload (ASan's symbolizer
 *    inherited it once and hung), unless --follow-exec asks for them (then
 *    only a process the schedule knows by its pid attaches; see follow_claim).
 *
 * Without RR_EXEC_SHM_FD in the environment (the program run on its own, or
 * built by `racerepro cc` and run directly) every shim calls straight through.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rr_internal.h"

#define TLS __attribute__((tls_model("initial-exec"))) __thread
/* How long a crashed process waits for the worker's gdb: longer than gdb's
 * own limit in forensics.c (60 s). */
#define CRASH_WAIT_S 75
#define EXPORT __attribute__((visibility("default")))

static struct rr__sched *S;  /* the scheduler, once attached */
static int active;           /* attached, and this is the process that was exec'd */
static int exiting;          /* the process is ending: no more points */
static TLS int in_rt;        /* inside the runtime: see enter() */
static TLS int fresh;        /* a new thread before its first point */
static TLS uintptr_t stack_lo, stack_hi;
static int follow;           /* --follow-exec: forks and execs stay under control */
static int shm_fd = -1;      /* the worker's memfd, kept open for exec'd images (follow) */

/* Set when the program is built with -fsanitize-coverage load/store hooks
 * (racerepro cc) and a strategy is running: the hooks test it inline. */
EXPORT int rr__mem_armed;

/* ---- the real functions ---- */

#define REAL(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)
REAL(int, pthread_create, pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
REAL(int, pthread_join, pthread_t, void **);
REAL(void, pthread_exit, void *);
REAL(int, pthread_mutex_lock, pthread_mutex_t *);
REAL(int, pthread_mutex_trylock, pthread_mutex_t *);
REAL(int, pthread_mutex_timedlock, pthread_mutex_t *, const struct timespec *);
REAL(int, pthread_mutex_unlock, pthread_mutex_t *);
REAL(int, pthread_rwlock_rdlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_wrlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_tryrdlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_trywrlock, pthread_rwlock_t *);
REAL(int, pthread_rwlock_unlock, pthread_rwlock_t *);
REAL(int, pthread_spin_lock, pthread_spinlock_t *);
REAL(int, pthread_spin_trylock, pthread_spinlock_t *);
REAL(int, pthread_spin_unlock, pthread_spinlock_t *);
REAL(int, pthread_once, pthread_once_t *, void (*)(void));
REAL(int, pthread_barrier_wait, pthread_barrier_t *);
REAL(int, sem_wait, sem_t *);
REAL(int, sem_trywait, sem_t *);
REAL(int, sem_timedwait, sem_t *, const struct timespec *);
REAL(int, sem_post, sem_t *);
REAL(int, sched_yield, void);
REAL(int, nanosleep, const struct timespec *, struct timespec *);
REAL(int, clock_nanosleep, clockid_t, int, const struct timespec *, struct timespec *);
REAL(unsigned, sleep, unsigned);
REAL(int, usleep, useconds_t);
REAL(int, poll, struct pollfd *, nfds_t, int);
REAL(int, select, int, fd_set *, fd_set *, fd_set *, struct timeval *);
REAL(int, pselect, int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
REAL(int, epoll_wait, int, struct epoll_event *, int, int);
REAL(ssize_t, read, int, void *, size_t);
REAL(ssize_t, write, int, const void *, size_t);
REAL(ssize_t, recv, int, void *, size_t, int);
REAL(ssize_t, send, int, const void *, size_t, int);
REAL(int, accept, int, struct sockaddr *, socklen_t *);
REAL(int, connect, int, const struct sockaddr *, socklen_t);
REAL(void, exit, int);
REAL(void, abort, void);
REAL(void, __assert_fail, const char *, const char *, unsigned, const char *);
REAL(pid_t, fork, void);
REAL(int, __cxa_guard_acquire, int64_t *);
REAL(void, __cxa_guard_release, int64_t *);
REAL(void, __cxa_guard_abort, int64_t *);
REAL(int, __libc_start_main, int (*)(int, char **, char **), int, char **, void (*)(void),
     void (*)(void), void (*)(void), void *);

static void *next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		static const char msg[] = "racerepro-rt: a libc symbol is missing\n";
		ssize_t w = syscall(SYS_write, 2, msg, sizeof msg - 1);
		(void)w;
		syscall(SYS_exit_group, RR_WEXIT_ERROR);
	}
	return p;
}

#define GET(name)                                                                                  \
	do {                                                                                       \
		if (!real_##name)                                                                  \
			*(void **)&real_##name = next_sym(#name);                                  \
	} while (0)
/* ---- TSan, when the program has it ---- */

static void (*tsan_annotate[6])(const char *, int);

void rr__rt_tsan_ignore(int begin)
{
	if (!tsan_annotate[0])
		return;
	if (begin)
		for (int i = 0; i < 3; i++)
			tsan_annotate[i](__FILE__, __LINE__);
	else
		for (int i = 3; i < 6; i++)
			tsan_annotate[i](__FILE__, __LINE__);
}

static void find_tsan(void)
{
	static const char *const names[6] = {"AnnotateIgnoreReadsBegin", "AnnotateIgnoreWritesBegin",
					     "AnnotateIgnoreSyncBegin",  "AnnotateIgnoreSyncEnd",
					     "AnnotateIgnoreWritesEnd",  "AnnotateIgnoreReadsEnd"};
	void *p[6];
	for (int i = 0; i < 6; i++)
		if (!(p[i] = dlsym(RTLD_DEFAULT, names[i])))
			return;
	for (int i = 0; i < 6; i++)
		*(void **)&tsan_annotate[i] = p[i];
}

/* Inside the runtime: shims call straight through, and TSan (if the program
 * has it) neither checks the runtime's formatting into the shared state nor
 * sees synchronisation in the scheduler's hand-off. The program's own
 * synchronisation is outside: TSan's interceptors do it around our shims. */
static void enter(void)
{
	if (in_rt++ == 0)
		rr__rt_tsan_ignore(1);
}

static void leave(void)
{
	if (--in_rt == 0)
		rr__rt_tsan_ignore(0);
}

/* ---- call sites: "prog+0x1a2b", an offset addr2line understands ---- */

static uintptr_t exe_base, exe_lo, exe_hi;
static char exe_name[48];

static int find_exe(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	exe_base = info->dlpi_addr;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (!exe_lo || lo < exe_lo)
			exe_lo = lo;
		if (hi > exe_hi)
			exe_hi = hi;
	}
	return 1; /* the first object is the program */
}

static int sanitizer_frame(const char *name);
static uintptr_t icpt_lo;

/* A sanitizer's code: its internals by name, or an interceptor exported
 * under the plain libc name (pthread_mutex_lock, backtrace). */
static int sanitizer_code(const Dl_info *di)
{
	if (!di->dli_sname)
		return 0;
	if (sanitizer_frame(di->dli_sname))
		return 1;
	char alias[128];
	snprintf(alias, sizeof alias, "__interceptor_%s", di->dli_sname);
	void *a = dlsym(RTLD_DEFAULT, alias);
	return a && a == di->dli_saddr;
}

/* In a sanitizer-built program a shim's caller is the sanitizer's
 * interceptor: the call site is one frame further out. */
static const void *user_pc(const void *pc)
{
	static const void *cache_pc[64];
	static char cache_icpt[64];
	if (!icpt_lo)
		return pc;
	unsigned h = (unsigned)(((uintptr_t)pc >> 2) & 63);
	if (cache_pc[h] != pc) {
		Dl_info di;
		cache_icpt[h] = (char)(dladdr(pc, &di) && sanitizer_code(&di));
		cache_pc[h] = pc;
	}
	if (!cache_icpt[h])
		return pc;
	void *frames[12];
	int n = backtrace(frames, 12);
	for (int i = 0; i + 1 < n; i++)
		if (frames[i] == pc)
			return frames[i + 1];
	return pc;
}

/* A string builder without printf: a point that does not switch must cost
 * well under a microsecond, and its trace row is written at every point. */
struct sb {
	char *p;
	size_t left;
};

static void sb_str(struct sb *b, const char *s)
{
	while (*s && b->left > 1) {
		*b->p++ = *s++;
		b->left--;
	}
	*b->p = '\0';
}

static void sb_hex(struct sb *b, uintptr_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	sb_str(b, "0x");
	while (n && b->left > 1) {
		*b->p++ = tmp[--n];
		b->left--;
	}
	*b->p = '\0';
}

static void raw_site(const void *pc, char *out, size_t cap)
{
	uintptr_t a = (uintptr_t)pc;
	if (a >= exe_lo && a < exe_hi) {
		struct sb b = {out, cap};
		sb_str(&b, exe_name);
		sb_str(&b, "+");
		sb_hex(&b, a - exe_base - 1);
		return;
	}
	Dl_info di;
	if (dladdr(pc, &di) && di.dli_fname) {
		const char *b = strrchr(di.dli_fname, '/');
		snprintf(out, cap, "%s+0x%lx", b ? b + 1 : di.dli_fname,
			 (unsigned long)(a - (uintptr_t)di.dli_fbase - 1));
		return;
	}
	snprintf(out, cap, "0x%lx", (unsigned long)a);
}

static void site(const void *pc, char *out, size_t cap)
{
	raw_site(user_pc(pc), out, cap);
}

/* An object by its symbol when the program exports one covering it (built
 * with -rdynamic, as racerepro cc does), else by address. dladdr1 walks the
 * symbol tables (a few hundred ns, most of a non-switching lock point's
 * cost), and a program takes the same few locks over and over: each thread
 * keeps the last names it looked up, keyed by address. A name depends only on
 * the address and the loaded objects, so an entry stays right unless the
 * program dlcloses the object that held it. */
#define NAME_CACHE 16
static TLS struct {
	const void *obj;
	const char *kind;
	char name[40];
} name_cache[NAME_CACHE];

static void object_name(const char *kind, const void *obj, char *out, size_t cap)
{
	unsigned slot = (unsigned)(((uintptr_t)obj >> 3) % NAME_CACHE);
	char *name = name_cache[slot].name;
	if (name_cache[slot].obj != obj || name_cache[slot].kind != kind) {
		Dl_info di;
		const ElfW(Sym) *sym = NULL;
		if (dladdr1(obj, &di, (void **)&sym, RTLD_DL_SYMENT) && di.dli_sname && sym &&
		    (uintptr_t)obj < (uintptr_t)di.dli_saddr + sym->st_size)
			snprintf(name, sizeof name_cache[slot].name, "%s %s", kind, di.dli_sname);
		else
			snprintf(name, sizeof name_cache[slot].name, "%s %p", kind, obj);
		name_cache[slot].obj = obj;
		name_cache[slot].kind = kind;
	}
	size_t n = strnlen(name, sizeof name_cache[slot].name - 1);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, name, n);
	out[n] = '\0';
}

/* ---- slots ---- */

static int self_slot(void)
{
	return rr__sched_self();
}

/* Scheduling applies: attached, not inside the runtime, a slot's thread. */
static int on(void)
{
	return active && !in_rt && !exiting && self_slot() >= 0;
}

static int ctl(void)
{
	return on() && __atomic_load_n(&S->controlled, __ATOMIC_SEQ_CST);
}

static pid_t gettid_now(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void note_stack(void)
{
	pthread_attr_t a;
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		void *addr;
		size_t size;
		if (pthread_attr_getstack(&a, &addr, &size) == 0) {
			stack_lo = (uintptr_t)addr;
			stack_hi = stack_lo + size;
		}
		pthread_attr_destroy(&a);
	}
}

static TLS int role_pending; /* created through a sanitizer's start function */

static int sanitizer_frame(const char *name)
{
	return !name || !strncmp(name, "__asan", 6) || !strncmp(name, "__tsan", 6) ||
	       !strncmp(name, "asan_", 5) || !strncmp(name, "__interceptor", 13) ||
	       !strncmp(name, "___interceptor", 14) || !strncmp(name, "__sanitizer", 11) ||
	       strstr(name, "thread_start") || !strncmp(name, "rr__", 4);
}

/* A sanitizer's pthread_create passes its own start function on to ours:
 * the user's start routine is the outermost program frame of the stack. */
static void resolve_role(void)
{
	void *frames[64];
	int n = backtrace(frames, 64);
	const char *best = NULL;
	void *best_pc = NULL;
	for (int i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)frames[i];
		if (a < exe_lo || a >= exe_hi)
			continue;
		Dl_info di;
		const char *name = dladdr(frames[i], &di) ? di.dli_sname : NULL;
		if (name && sanitizer_code(&di))
			continue;
		/* The outermost named program frame; unnamed ones only if none is
		 * (a sanitizer's internals are not exported, the program's
		 * functions are with -rdynamic). */
		if (name || !best) {
			best = name;
			best_pc = frames[i];
		}
	}
	if (!best_pc)
		return;
	struct rr__slot *sl = &S->slots[self_slot()];
	char fn[48];
	if (best)
		snprintf(fn, sizeof fn, "%s", best);
	else
		site(best_pc, fn, sizeof fn);
	char *colon = strchr(sl->role, ':');
	if (colon) {
		size_t keep = (size_t)(colon - sl->role) + 1;
		snprintf(sl->role + keep, sizeof sl->role - keep, "%s", fn);
	}
}

/* The first point of a new thread waits for the token: before it, the
 * thread ran freely (its start-up handshake with the sanitizer). */
static void first_point(void)
{
	if (fresh) {
		fresh = 0;
		note_stack();
		rr__sched_wait_token();
		if (role_pending) {
			role_pending = 0;
			resolve_role();
		}
	}
}

static void point_at(const char *name, const char *what, const void *pc)
{
	char d[RR_DETAIL], where[48];
	enter();
	/* Once the trace is full its rows are dropped: no need to write one. */
	int traced = __atomic_load_n(&S->nevents, __ATOMIC_RELAXED) < RR_MAX_EVENTS;
	if (traced) {
		site(pc, where, sizeof where);
		struct sb b = {d, sizeof d};
		if (what) {
			sb_str(&b, what);
			sb_str(&b, " ");
		}
		sb_str(&b, "at ");
		sb_str(&b, where);
	}
	first_point();
	rr__sched_point(name, traced ? d : NULL);
	leave();
}

/* Free-running strategies: noise perturbs at every point (a yield, a spin, a
 * sleep); none leaves the program alone. */
static void free_point(const char *name)
{
	if (on() && S->strategy == RR_STRAT_NOISE) {
		enter();
		rr__sched_point(name, NULL);
		leave();
	}
}

static int park_on(const void *obj, uint64_t timeout_ns, const char *what)
{
	enter();
	int rc = rr__sched_park((uint64_t)(uintptr_t)obj, timeout_ns, what, RR_WAIT_OBJECT);
	leave();
	return rc;
}

static void wake(const void *obj, int all)
{
	enter();
	rr__sched_wake((uint64_t)(uintptr_t)obj, all);
	leave();
}

/* Who holds a glibc mutex, by slot role (glibc keeps the owner's tid). */
static const char *owner_role(pthread_mutex_t *m)
{
	int tid = m->__data.__owner;
	for (int i = 0; tid && i < S->nslots; i++)
		if (S->slots[i].tid == tid && S->slots[i].state != RR_SLOT_EXITED)
			return S->slots[i].role;
	return NULL;
}

static void find_interceptor(void);
static void find_free_callers(void);
static void note_ending_thread(void);
static int follow_claim(struct rr__worker_shm *w, int slot);
static unsigned next_thread_number(void);

/* ---- the constructor: attach to the worker's scheduler ---- */

/* The worker takes gdb's backtraces of this process while the crashing
 * thread waits here (bounded: a worker that never answers must not keep a
 * crashed program alive), then the signal kills the process as before.
 * Only the first crash of an iteration waits; only async-signal-safe calls. */
static void wait_for_gdb(int sig)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	int32_t none = 0, me = (int32_t)getpid();
	if (!w || !__atomic_compare_exchange_n(&w->crash_pid, &none, me, 0, __ATOMIC_SEQ_CST,
					       __ATOMIC_SEQ_CST))
		return;
	/* Under Yama's ptrace_scope 1 the worker's gdb is no ancestor of ours. */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	w->crash_sig = sig;
	struct timespec start, now, slice = {0, 100000000};
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		uint32_t ack = __atomic_load_n(&w->crash_ack, __ATOMIC_SEQ_CST);
		if (ack == (uint32_t)me)
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > CRASH_WAIT_S)
			return;
		syscall(SYS_futex, &w->crash_ack, FUTEX_WAIT, ack, &slice, NULL, 0);
	}
}

static void on_crash(int sig)
{
	note_ending_thread();
	char buf[160];
	int n = snprintf(buf, sizeof buf, "racerepro-rt: %s in thread %s\n", strsignal(sig),
			 self_slot() >= 0 && S ? S->slots[self_slot()].role : "?");
	ssize_t w = write(2, buf, (size_t)n);
	(void)w;
	void *frames[32];
	int nf = backtrace(frames, 32);
	for (int i = 0; i < nf; i++) {
		char where[64];
		raw_site(frames[i], where, sizeof where);
		n = snprintf(buf, sizeof buf, "racerepro-rt: #%d %s\n", i, where);
		w = write(2, buf, (size_t)n);
	}
	wait_for_gdb(sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void (*free_fn(void))(void *);

__attribute__((constructor(101))) static void rt_init(void)
{
	free_fn();
	const char *fd_s = getenv("RR_EXEC_SHM_FD");
	const char *slot_s = getenv("RR_EXEC_SLOT");
	if (!fd_s || !slot_s)
		return;
	int fd = atoi(fd_s), slot = atoi(slot_s);
	follow = getenv("RR_EXEC_FOLLOW") != NULL;
	if (!follow) {
		/* What the target execs runs without the runtime. */
		const char *saved = getenv("RR_EXEC_SAVED_PRELOAD");
		if (saved && *saved)
			setenv("LD_PRELOAD", saved, 1);
		else
			unsetenv("LD_PRELOAD");
		unsetenv("RR_EXEC_SAVED_PRELOAD");
		unsetenv("RR_EXEC_SHM_FD");
		unsetenv("RR_EXEC_SLOT");
	}
	struct rr__worker_shm *w = mmap(NULL, sizeof *w, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (follow)
		shm_fd = fd; /* what this image execs maps it again */
	else
		close(fd);
	if (w == MAP_FAILED) {
		fprintf(stderr, "racerepro-rt: cannot map the scheduler: %s\n", strerror(errno));
		_exit(RR_WEXIT_ERROR);
	}
	if (follow && !follow_claim(w, slot))
		return; /* a process the schedule does not know: it runs free */
	find_tsan();
	find_interceptor();
	find_free_callers();
	dl_iterate_phdr(find_exe, NULL);
	char exe[256];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	const char *b = strrchr(exe, '/');
	snprintf(exe_name, sizeof exe_name, "%s", b ? b + 1 : exe);
	rr__ctx.shm = w;
	rr__ctx.in_process = 0;
	rr__ctx.shm_fd = -1;
	S = &w->sched;
	rr__sched_attach(S, slot);
	S->slots[slot].tid = gettid_now();
	note_stack();
	void *warm[2];
	backtrace(warm, 2); /* loads libgcc now, not in a signal handler */
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			signal(sigs[i], on_crash);
	}
	active = 1;
	enter();
	rr__sched_wait_token();
	leave();
	__atomic_store_n(&rr__mem_armed, 1, __ATOMIC_SEQ_CST);
}

/* Which of the program's threads ended it: exec mode names it in the
 * finding (the first one wins: a second thread can trip over the damage). */
static void note_ending_thread(void)
{
	int me = active ? self_slot() : -1;
	if (me < 0 || !rr__ctx.shm)
		return;
	char *r = rr__ctx.shm->exit_role;
	if (!__atomic_load_n(&r[0], __ATOMIC_RELAXED))
		snprintf(r, sizeof rr__ctx.shm->exit_role, "%s", S->slots[me].role);
}

/* The process ends: a scheduling point, then every slot of it ends. */
static void process_ending(const void *pc)
{
	note_ending_thread();
	if (!on())
		return;
	point_at("exit", NULL, pc);
	enter();
	exiting = 1;
	__atomic_store_n(&rr__mem_armed, 0, __ATOMIC_SEQ_CST);
	rr__sched_process_exit(getpid());
	leave();
}

/* An assertion ends in abort inside libc, past the abort shim. */
EXPORT void __assert_fail(const char *expr, const char *file, unsigned line, const char *fn)
{
	GET(__assert_fail);
	note_ending_thread();
	real___assert_fail(expr, file, line, fn);
	__builtin_unreachable(); /* the real __assert_fail does not return */
}

EXPORT void abort(void)
{
	GET(abort);
	note_ending_thread();
	real_abort();
	__builtin_unreachable(); /* the real abort does not return */
}

EXPORT void exit(int code)
{
	GET(exit);
	process_ending(__builtin_return_address(0));
	real_exit(code);
	__builtin_unreachable(); /* the real exit does not return */
}

int __libc_start_main(int (*main_fn)(int, char **, char **), int argc, char **argv,
		      void (*init)(void), void (*fini)(void), void (*rtld_fini)(void), void *stack_end);
int __cxa_guard_acquire(int64_t *g);
void __cxa_guard_release(int64_t *g);
void __cxa_guard_abort(int64_t *g);

/* main returning calls exit inside libc, past any interposition: wrap main. */
static int (*user_main)(int, char **, char **);
static int main_wrapper(int argc, char **argv, char **envp)
{
	int rc = user_main(argc, argv, envp);
	process_ending(__builtin_return_address(0));
	return rc;
}

EXPORT int __libc_start_main(int (*main_fn)(int, char **, char **), int argc, char **argv,
			     void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
			     void *stack_end)
{
	GET(__libc_start_main);
	user_main = main_fn;
	return real___libc_start_main(main_wrapper, argc, argv, init, fini, rtld_fini, stack_end);
}


/* ---- threads ---- */

struct start {
	void *(*fn)(void *);
	void *arg;
	int slot;
	int role_pending;
};

static pthread_t slot_thread[RR_MAX_THREADS];

static void thread_ends(void)
{
	if (!on())
		return;
	first_point();
	enter();
	rr__sched_leave();
	leave();
}

/* Indexed by slot: the thread start must not call malloc or free, which in a
 * sanitizer-built program need the thread state the sanitizer's own start
 * function (called by ours) has not made yet. */
static struct start starts[RR_MAX_THREADS];

static void *rr__rt_thread_start(void *p)
{
	struct start st = *(struct start *)p;
	rr__sched_set_self(st.slot);
	S->slots[st.slot].tid = gettid_now();
	fresh = 1;
	role_pending = st.role_pending;
	/* Without a sanitizer no start-up handshake runs between here and the
	 * start routine: the thread waits for the token now, so that none of
	 * its code runs uncontrolled. With one, it must run free until its
	 * first point (the sanitizer's thread start waits on its creator). */
	if (!icpt_lo && ctl()) {
		enter();
		first_point();
		leave();
	}
	void *rc = st.fn(st.arg);
	thread_ends();
	return rc;
}

/* In a sanitizer-built program the program's pthread_create calls reach us
 * through the sanitizer's interceptor; a call from anywhere else in such a
 * program is the sanitizer's own (TSan's background thread): never a slot. */
static uintptr_t icpt_hi;

static void find_interceptor(void)
{
	void *p = dlsym(RTLD_DEFAULT, "__interceptor_pthread_create");
	Dl_info di;
	const ElfW(Sym) *sym = NULL;
	if (p && dladdr1(p, &di, (void **)&sym, RTLD_DL_SYMENT) && sym) {
		icpt_lo = (uintptr_t)p;
		icpt_hi = icpt_lo + (sym->st_size ? sym->st_size : 4096);
	}
}

static int sanitizer_thread(const void *pc)
{
	return icpt_lo && ((uintptr_t)pc < icpt_lo || (uintptr_t)pc >= icpt_hi);
}

EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	GET(pthread_create);
	void *pc = __builtin_return_address(0);
	if (!on() || sanitizer_thread(pc))
		return real_pthread_create(t, attr, fn, arg);
	point_at("create", NULL, pc);
	char role[24], fname[64] = "?";
	Dl_info di;
	int pending = 0;
	const ElfW(Sym) *sym = NULL;
	if (!dladdr1((void *)fn, &di, (void **)&sym, RTLD_DL_SYMENT) || di.dli_saddr != (void *)fn)
		di.dli_sname = NULL; /* only an exported symbol that starts at fn names it */
	if (di.dli_sname)
		snprintf(fname, sizeof fname, "%s", di.dli_sname);
	else
		raw_site((const void *)((uintptr_t)fn + 1), fname, sizeof fname);
	if (icpt_lo && (!di.dli_sname || sanitizer_code(&di))) {
		pending = 1; /* named at its first point, from its stack */
		snprintf(fname, sizeof fname, "?");
	}
	snprintf(role, sizeof role, "t%u:%s", next_thread_number(), fname);
	enter();
	int slot = rr__slot_add(role, getpid());
	leave();
	struct start *st = &starts[slot];
	S->slots[slot].start_fn = (uint64_t)(uintptr_t)fn;
	st->fn = fn;
	st->arg = arg;
	st->slot = slot;
	st->role_pending = pending;
	/* No point from here to the return: the new thread may not have a
	 * tid yet, and the sanitizer's start-up handshake is in progress. */
	int rc = real_pthread_create(t, attr, rr__rt_thread_start, st);
	if (rc) {
		S->slots[slot].state = RR_SLOT_EXITED;
		return rc;
	}
	slot_thread[slot] = *t;
	enter();
	rr__trace_note("create", "started %s", role);
	leave();
	return 0;
}

static int slot_of(pthread_t t)
{
	for (int i = 1; i < S->nslots; i++)
		if (S->slots[i].pid == getpid() && slot_thread[i] == t &&
		    S->slots[i].start_fn)
			return i;
	return -1;
}

EXPORT int pthread_join(pthread_t t, void **ret)
{
	GET(pthread_join);
	if (ctl()) {
		int id = slot_of(t);
		point_at("join", id >= 0 ? S->slots[id].role : "thread", __builtin_return_address(0));
		if (id >= 0 && S->slots[id].state != RR_SLOT_EXITED && ctl()) {
			char what[RR_DETAIL];
			enter();
			snprintf(what, sizeof what, "join %s", S->slots[id].role);
			rr__sched_park((uint64_t)id, 0, what, RR_WAIT_SLOT);
			leave();
		}
	}
	return real_pthread_join(t, ret);
}

EXPORT void pthread_exit(void *ret)
{
	GET(pthread_exit);
	thread_ends();
	real_pthread_exit(ret);
	__builtin_unreachable(); /* the real pthread_exit does not return */
}

/* ---- mutexes ---- */

static int lock_parked(pthread_mutex_t *m, const struct timespec *abstime, const void *pc)
{
	for (;;) {
		int rc = real_pthread_mutex_trylock(m);
		if (rc != EBUSY)
			return rc;
		/* An error-checking mutex relocked by its owner fails at once. */
		if ((m->__data.__kind & 3) == PTHREAD_MUTEX_ERRORCHECK &&
		    m->__data.__owner == gettid_now())
			return EDEADLK;
		char what[RR_DETAIL], obj[40], where[48];
		object_name("mutex", m, obj, sizeof obj);
		site(pc, where, sizeof where);
		enter();
		const char *owner = owner_role(m);
		snprintf(what, sizeof what, "%s held by %s, at %s", obj, owner ? owner : "another thread",
			 where);
		leave();
		uint64_t t = 0;
		if (abstime) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now);
			int64_t ns = (int64_t)(abstime->tv_sec - now.tv_sec) * 1000000000 +
				     (abstime->tv_nsec - now.tv_nsec);
			t = ns > 0 ? (uint64_t)ns : 1;
		}
		int pr = park_on(m, t, what);
		if (pr == EAGAIN)
			return abstime ? real_pthread_mutex_timedlock(m, abstime)
				       : real_pthread_mutex_lock(m);
		if (pr == ETIMEDOUT) {
			rc = real_pthread_mutex_trylock(m);
			return rc == EBUSY ? ETIMEDOUT : rc;
		}
	}
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
	GET(pthread_mutex_lock);
	GET(pthread_mutex_trylock);
	if (!ctl()) {
		free_point("lock");
		return real_pthread_mutex_lock(m);
	}
	char obj[40];
	object_name("mutex", m, obj, sizeof obj);
	point_at("lock", obj, __builtin_return_address(0));
	if (!ctl())
		return real_pthread_mutex_lock(m);
	return lock_parked(m, NULL, __builtin_return_address(0));
}

EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
	GET(pthread_mutex_trylock);
	if (ctl()) {
		char obj[40];
		object_name("mutex", m, obj, sizeof obj);
		point_at("trylock", obj, __builtin_return_address(0));
	}
	return real_pthread_mutex_trylock(m);
}

EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	GET(pthread_mutex_timedlock);
	GET(pthread_mutex_trylock);
	GET(pthread_mutex_lock);
	if (!ctl()) {
		free_point("timedlock");
		return real_pthread_mutex_timedlock(m, abstime);
	}
	char obj[40];
	object_name("mutex", m, obj, sizeof obj);
	point_at("timedlock", obj, __builtin_return_address(0));
	if (!ctl())
		return real_pthread_mutex_timedlock(m, abstime);
	return lock_parked(m, abstime, __builtin_return_address(0));
}

/* Unlock is a point after it takes effect: "use after unlock" windows. */
EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
	GET(pthread_mutex_unlock);
	int rc = real_pthread_mutex_unlock(m);
	if (rc == 0 && ctl()) {
		wake(m, 1);
		char obj[40];
		object_name("mutex", m, obj, sizeof obj);
		point_at("unlock", obj, __builtin_return_address(0));
	} else if (rc == 0) {
		free_point("unlock");
	}
	return rc;
}

/* ---- condition variables ----
 * glibc has two ABIs: GLIBC_2.3.2 (today's pthread_cond_t) and, on x86_64,
 * GLIBC_2.2.5, whose functions keep a pointer to a separately allocated
 * new-ABI cond in the object's first word. Each version's shims call that
 * version's real functions (a new-ABI function on an old-ABI object would
 * take the pointer for a cond), and the controlled path touches the object
 * only as an address to park on, except for the new ABI's clock bit. */

struct cond_api {
	const char *version;
	int old;
	int (*wait)(pthread_cond_t *, pthread_mutex_t *);
	int (*timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
	int (*signal)(pthread_cond_t *);
	int (*broadcast)(pthread_cond_t *);
	int (*init)(pthread_cond_t *, const pthread_condattr_t *);
	int (*destroy)(pthread_cond_t *);
	int ready;
};
static struct cond_api cond_new = {.version = "GLIBC_2.3.2"};
static struct cond_api cond_old = {.version = "GLIBC_2.2.5", .old = 1};

/* dlsym could hand back either version: ask for the one meant. */
static void *cond_sym(const struct cond_api *a, const char *name)
{
	void *p = dlvsym(RTLD_NEXT, name, a->version);
	return p ? p : next_sym(name);
}

static const struct cond_api *cond_get(struct cond_api *a)
{
	if (!__atomic_load_n(&a->ready, __ATOMIC_ACQUIRE)) {
		*(void **)&a->wait = cond_sym(a, "pthread_cond_wait");
		*(void **)&a->timedwait = cond_sym(a, "pthread_cond_timedwait");
		*(void **)&a->signal = cond_sym(a, "pthread_cond_signal");
		*(void **)&a->broadcast = cond_sym(a, "pthread_cond_broadcast");
		*(void **)&a->init = cond_sym(a, "pthread_cond_init");
		*(void **)&a->destroy = cond_sym(a, "pthread_cond_destroy");
		__atomic_store_n(&a->ready, 1, __ATOMIC_RELEASE);
	}
	return a;
}

/* The new ABI keeps the clock in bit 0 of __wrefs (1: CLOCK_MONOTONIC); an
 * old-ABI cond always waits on CLOCK_REALTIME. */
static uint64_t cond_timeout(const struct cond_api *a, pthread_cond_t *c,
			     const struct timespec *abstime)
{
	struct timespec now;
	clock_gettime(!a->old && (c->__data.__wrefs & 1) ? CLOCK_MONOTONIC : CLOCK_REALTIME, &now);
	int64_t ns = (int64_t)(abstime->tv_sec - now.tv_sec) * 1000000000 +
		     (abstime->tv_nsec - now.tv_nsec);
	return ns > 0 ? (uint64_t)ns : 1;
}

static int cond_wait_controlled(const struct cond_api *a, pthread_cond_t *c, pthread_mutex_t *m,
				const struct timespec *abstime, const void *pc)
{
	GET(pthread_mutex_unlock);
	GET(pthread_mutex_lock);
	GET(pthread_mutex_trylock);
	GET(pthread_mutex_timedlock);
	char obj[40], what[RR_DETAIL];
	object_name("cond", c, obj, sizeof obj);
	point_at("cond_wait", obj, pc);
	if (!ctl())
		return abstime ? a->timedwait(c, m, abstime) : a->wait(c, m);
	int rc = real_pthread_mutex_unlock(m);
	if (rc)
		return rc;
	wake(m, 1);
	char where[48];
	site(pc, where, sizeof where);
	snprintf(what, sizeof what, "%s at %s", obj, where);
	int pr = park_on(c, abstime ? cond_timeout(a, c, abstime) : 0, what);
	if (pr == EAGAIN) { /* released: a spurious wakeup, which callers allow */
		real_pthread_mutex_lock(m);
		return 0;
	}
	rc = lock_parked(m, NULL, pc);
	if (rc)
		return rc;
	return pr == ETIMEDOUT ? ETIMEDOUT : 0;
}

static int cond_wait(struct cond_api *api, pthread_cond_t *c, pthread_mutex_t *m,
		     const struct timespec *t, const void *pc)
{
	const struct cond_api *a = cond_get(api);
	if (!ctl()) {
		free_point("cond_wait");
		return t ? a->timedwait(c, m, t) : a->wait(c, m);
	}
	return cond_wait_controlled(a, c, m, t, pc);
}

/* The real call too: a thread released to free-running may be in the real
 * wait. */
static int cond_wake(struct cond_api *api, pthread_cond_t *c, int all, const void *pc)
{
	const struct cond_api *a = cond_get(api);
	if (ctl()) {
		char obj[40];
		object_name("cond", c, obj, sizeof obj);
		point_at(all ? "broadcast" : "signal", obj, pc);
		wake(c, all);
	}
	return all ? a->broadcast(c) : a->signal(c);
}

EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	return cond_wait(&cond_new, c, m, NULL, __builtin_return_address(0));
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
	return cond_wait(&cond_new, c, m, t, __builtin_return_address(0));
}

EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
	return cond_wake(&cond_new, c, 0, __builtin_return_address(0));
}

EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
	return cond_wake(&cond_new, c, 1, __builtin_return_address(0));
}

#if defined(__x86_64__)
/* The GLIBC_2.2.5 versions, bound by programs linked against them (rt.map
 * makes the version; the rr__compat_ names themselves stay local). */
#define COMPAT(name, ver) __asm__(".symver rr__compat_" #name ", " #name "@" ver)
EXPORT int rr__compat_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
EXPORT int rr__compat_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
					     const struct timespec *t);
EXPORT int rr__compat_pthread_cond_signal(pthread_cond_t *c);
EXPORT int rr__compat_pthread_cond_broadcast(pthread_cond_t *c);
EXPORT int rr__compat_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr);
EXPORT int rr__compat_pthread_cond_destroy(pthread_cond_t *c);
COMPAT(pthread_cond_wait, "GLIBC_2.2.5");
COMPAT(pthread_cond_timedwait, "GLIBC_2.2.5");
COMPAT(pthread_cond_signal, "GLIBC_2.2.5");
COMPAT(pthread_cond_broadcast, "GLIBC_2.2.5");
COMPAT(pthread_cond_init, "GLIBC_2.2.5");
COMPAT(pthread_cond_destroy, "GLIBC_2.2.5");

EXPORT int rr__compat_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	return cond_wait(&cond_old, c, m, NULL, __builtin_return_address(0));
}

EXPORT int rr__compat_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
					     const struct timespec *t)
{
	return cond_wait(&cond_old, c, m, t, __builtin_return_address(0));
}

EXPORT int rr__compat_pthread_cond_signal(pthread_cond_t *c)
{
	return cond_wake(&cond_old, c, 0, __builtin_return_address(0));
}

EXPORT int rr__compat_pthread_cond_broadcast(pthread_cond_t *c)
{
	return cond_wake(&cond_old, c, 1, __builtin_return_address(0));
}

/* Nothing to schedule: init and destroy only reach the old ABI's own. */
EXPORT int rr__compat_pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
	return cond_get(&cond_old)->init(c, attr);
}

EXPORT int rr__compat_pthread_cond_destroy(pthread_cond_t *c)
{
	return cond_get(&cond_old)->destroy(c);
}
#endif

/* ---- rwlocks, spin locks, semaphores: try, else park ---- */

#define TRY_OR_PARK(kind, obj, trycall, blockcall, busy)                                           \
	do {                                                                                       \
		char o_[40];                                                                       \
		object_name(kind, obj, o_, sizeof o_);                                             \
		point_at(kind, o_, __builtin_return_address(0));                                   \
		for (;;) {                                                                         \
			if (!ctl())                                                                \
				return blockcall;                                                  \
			int rc_ = trycall;                                                         \
			if (!(busy))                                                               \
				return rc_;                                                        \
			if (park_on(obj, 0, o_) == EAGAIN)                                         \
				return blockcall;                                                  \
		}                                                                                  \
	} while (0)

EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	GET(pthread_rwlock_rdlock);
	GET(pthread_rwlock_tryrdlock);
	if (!ctl()) {
		free_point("rwlock");
		return real_pthread_rwlock_rdlock(l);
	}
	TRY_OR_PARK("rwlock", l, real_pthread_rwlock_tryrdlock(l), real_pthread_rwlock_rdlock(l),
		    rc_ == EBUSY);
}

EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	GET(pthread_rwlock_wrlock);
	GET(pthread_rwlock_trywrlock);
	if (!ctl()) {
		free_point("rwlock");
		return real_pthread_rwlock_wrlock(l);
	}
	TRY_OR_PARK("rwlock", l, real_pthread_rwlock_trywrlock(l), real_pthread_rwlock_wrlock(l),
		    rc_ == EBUSY);
}

EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	GET(pthread_rwlock_unlock);
	int rc = real_pthread_rwlock_unlock(l);
	if (rc == 0 && ctl()) {
		wake(l, 1);
		point_at("rwlock_unlock", NULL, __builtin_return_address(0));
	}
	return rc;
}

EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
	GET(pthread_spin_lock);
	GET(pthread_spin_trylock);
	if (!ctl()) {
		free_point("spin");
		return real_pthread_spin_lock(l);
	}
	TRY_OR_PARK("spin", (void *)l, real_pthread_spin_trylock(l), real_pthread_spin_lock(l),
		    rc_ == EBUSY);
}

EXPORT int pthread_spin_unlock(pthread_spinlock_t *l)
{
	GET(pthread_spin_unlock);
	int rc = real_pthread_spin_unlock(l);
	if (rc == 0 && ctl()) {
		wake((void *)l, 1);
		point_at("spin_unlock", NULL, __builtin_return_address(0));
	}
	return rc;
}

EXPORT int sem_wait(sem_t *s)
{
	GET(sem_wait);
	GET(sem_trywait);
	if (!ctl()) {
		free_point("sem");
		return real_sem_wait(s);
	}
	TRY_OR_PARK("sem", s, real_sem_trywait(s), real_sem_wait(s), rc_ < 0 && errno == EAGAIN);
}

EXPORT int sem_timedwait(sem_t *s, const struct timespec *t)
{
	GET(sem_timedwait);
	GET(sem_trywait);
	if (!ctl()) {
		free_point("sem");
		return real_sem_timedwait(s, t);
	}
	/* Virtual time: a timed wait that nothing ends times out at once
	 * rather than blocking the run (the deadline is not modelled). */
	TRY_OR_PARK("sem", s, real_sem_trywait(s), real_sem_timedwait(s, t),
		    rc_ < 0 && errno == EAGAIN);
}

EXPORT int sem_post(sem_t *s)
{
	GET(sem_post);
	int rc = real_sem_post(s);
	if (rc == 0 && ctl()) {
		wake(s, 1);
		point_at("sem_post", NULL, __builtin_return_address(0));
	}
	return rc;
}

/* ---- once, barriers, C++ static locals: the runtime tracks who is inside ---- */

#define MAX_BUSY 64
static struct {
	const void *obj;
	int slot;
	unsigned arrived; /* barriers */
} busy[MAX_BUSY];

static int busy_find(const void *obj, int make)
{
	int free_i = -1;
	for (int i = 0; i < MAX_BUSY; i++) {
		if (busy[i].obj == obj)
			return i;
		if (!busy[i].obj && free_i < 0)
			free_i = i;
	}
	if (make && free_i >= 0) {
		busy[free_i].obj = obj;
		busy[free_i].slot = -1;
		busy[free_i].arrived = 0;
	}
	return make ? free_i : -1;
}

EXPORT int pthread_once(pthread_once_t *once, void (*init)(void))
{
	GET(pthread_once);
	if (!ctl() || (__atomic_load_n(once, __ATOMIC_ACQUIRE) & 2))
		return real_pthread_once(once, init);
	point_at("once", NULL, __builtin_return_address(0));
	for (;;) {
		if (!ctl() || (__atomic_load_n(once, __ATOMIC_ACQUIRE) & 2))
			return real_pthread_once(once, init);
		int b = busy_find(once, 1);
		if (b < 0 || busy[b].slot < 0 || busy[b].slot == self_slot()) {
			if (b >= 0)
				busy[b].slot = self_slot();
			int rc = real_pthread_once(once, init);
			if (b >= 0)
				busy[b].obj = NULL;
			wake(once, 1);
			return rc;
		}
		if (park_on(once, 0, "pthread_once in progress") == EAGAIN)
			return real_pthread_once(once, init);
	}
}

/* The barrier's count, from glibc's layout (in, current_round, count). */
EXPORT int pthread_barrier_wait(pthread_barrier_t *bar)
{
	GET(pthread_barrier_wait);
	if (!ctl()) {
		free_point("barrier");
		return real_pthread_barrier_wait(bar);
	}
	point_at("barrier", NULL, __builtin_return_address(0));
	unsigned count = ((unsigned *)bar)[2];
	int b = busy_find(bar, 1);
	if (b < 0 || !ctl())
		return real_pthread_barrier_wait(bar);
	if (++busy[b].arrived >= count) {
		busy[b].obj = NULL;
		wake(bar, 1);
		return PTHREAD_BARRIER_SERIAL_THREAD;
	}
	char o[40];
	object_name("barrier", bar, o, sizeof o);
	park_on(bar, 0, o);
	return 0;
}

EXPORT int __cxa_guard_acquire(int64_t *g)
{
	GET(__cxa_guard_acquire);
	if (!ctl() || __atomic_load_n((char *)g, __ATOMIC_ACQUIRE))
		return real___cxa_guard_acquire(g);
	char o[40];
	object_name("static", g, o, sizeof o);
	point_at("static_init", o, __builtin_return_address(0));
	for (;;) {
		if (!ctl() || __atomic_load_n((char *)g, __ATOMIC_ACQUIRE))
			return real___cxa_guard_acquire(g);
		int b = busy_find(g, 1);
		if (b < 0 || busy[b].slot < 0 || busy[b].slot == self_slot()) {
			if (b >= 0)
				busy[b].slot = self_slot();
			return real___cxa_guard_acquire(g);
		}
		if (park_on(g, 0, o) == EAGAIN)
			return real___cxa_guard_acquire(g);
	}
}

static void guard_done(int64_t *g)
{
	int b = busy_find(g, 0);
	if (b >= 0)
		busy[b].obj = NULL;
	if (ctl())
		wake(g, 1);
}

EXPORT void __cxa_guard_release(int64_t *g)
{
	GET(__cxa_guard_release);
	real___cxa_guard_release(g);
	guard_done(g);
}

EXPORT void __cxa_guard_abort(int64_t *g)
{
	GET(__cxa_guard_abort);
	real___cxa_guard_abort(g);
	guard_done(g);
}

/* ---- time: virtual under a controlled strategy ---- */

static int sleep_ns(uint64_t ns, const void *pc)
{
	point_at("sleep", NULL, pc);
	if (!ctl())
		return -1;
	if (ns)
		park_on(NULL, ns, "sleep");
	return 0;
}

EXPORT int sched_yield(void)
{
	GET(sched_yield);
	if (on()) {
		point_at("yield", NULL, __builtin_return_address(0));
		return 0;
	}
	return real_sched_yield();
}

EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
	GET(nanosleep);
	if (ctl() && req && sleep_ns((uint64_t)req->tv_sec * 1000000000ull + (uint64_t)req->tv_nsec,
				     __builtin_return_address(0)) == 0) {
		if (rem)
			rem->tv_sec = rem->tv_nsec = 0;
		return 0;
	}
	return real_nanosleep(req, rem);
}

EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
			   struct timespec *rem)
{
	GET(clock_nanosleep);
	if (ctl() && req) {
		uint64_t ns = (uint64_t)req->tv_sec * 1000000000ull + (uint64_t)req->tv_nsec;
		if (flags & TIMER_ABSTIME) {
			struct timespec now;
			clock_gettime(clk, &now);
			int64_t d = (int64_t)(req->tv_sec - now.tv_sec) * 1000000000 +
				    (req->tv_nsec - now.tv_nsec);
			ns = d > 0 ? (uint64_t)d : 0;
		}
		if (sleep_ns(ns, __builtin_return_address(0)) == 0)
			return 0;
	}
	return real_clock_nanosleep(clk, flags, req, rem);
}

EXPORT unsigned sleep(unsigned s)
{
	GET(sleep);
	if (ctl() && sleep_ns((uint64_t)s * 1000000000ull, __builtin_return_address(0)) == 0)
		return 0;
	return real_sleep(s);
}

EXPORT int usleep(useconds_t us)
{
	GET(usleep);
	if (ctl() && sleep_ns((uint64_t)us * 1000ull, __builtin_return_address(0)) == 0)
		return 0;
	return real_usleep(us);
}

/* ---- readiness: park until the fd is ready, as rr_poll does ---- */

static int wait_ready(struct pollfd *fds, nfds_t n, int timeout_ms, const char *what)
{
	enter();
	int rc = rr__sched_wait_fds(fds, n, timeout_ms, what);
	leave();
	return rc;
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
	GET(poll);
	if (!ctl() || n > RR_MAX_FDS) {
		free_point("poll");
		return real_poll(fds, n, timeout_ms);
	}
	point_at("poll", NULL, __builtin_return_address(0));
	if (!ctl())
		return real_poll(fds, n, timeout_ms);
	char what[32];
	snprintf(what, sizeof what, n ? "fd %d" : "poll timeout", n ? fds[0].fd : 0);
	return wait_ready(fds, n, timeout_ms, what);
}

EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int timeout_ms)
{
	GET(epoll_wait);
	if (!ctl()) {
		free_point("epoll_wait");
		return real_epoll_wait(ep, ev, max, timeout_ms);
	}
	point_at("epoll_wait", NULL, __builtin_return_address(0));
	struct pollfd p = {.fd = ep, .events = POLLIN};
	if (ctl() && timeout_ms != 0)
		wait_ready(&p, 1, timeout_ms, "epoll");
	return real_epoll_wait(ep, ev, max, 0);
}

/* select and pselect park on readiness as poll does: the fd_sets become a
 * pollfd array (at most RR_MAX_FDS fds; more, and the call is a point only,
 * its blocking left to the stall detector), the timeout is virtual, and the
 * real call with a zero timeout then writes back the sets and the count
 * exactly as the kernel's select would. fds >= FD_SETSIZE are the caller's
 * problem, as with glibc. */
static int sets_to_pollfds(int nfds, fd_set *r, fd_set *w, fd_set *e, struct pollfd *p)
{
	int n = 0;
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
				   (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
				   (e && FD_ISSET(fd, e) ? POLLPRI : 0));
		if (!ev)
			continue;
		if (n == RR_MAX_FDS)
			return -1;
		p[n].fd = fd;
		p[n].events = ev;
		p[n].revents = 0;
		n++;
	}
	return n;
}

/* Controlled: waits (virtual time) until one of the sets' fds is ready or
 * TIMEOUT_NS passes (UINT64_MAX: no timeout). Returns 1 to make the real
 * call with a zero timeout, 0 when not controlled (make the real call as
 * asked), and sets *WAITED_NS to the virtual time the wait took. */
static int select_wait(int nfds, fd_set *r, fd_set *w, fd_set *e, uint64_t timeout_ns,
		       const sigset_t *mask, const char *op, const void *pc, uint64_t *waited_ns)
{
	struct pollfd p[RR_MAX_FDS];
	*waited_ns = 0;
	int n = nfds > 0 ? sets_to_pollfds(nfds, r, w, e, p) : 0;
	char what[32];
	if (n > 0)
		snprintf(what, sizeof what, "%s fd %d", op, p[0].fd);
	else
		snprintf(what, sizeof what, "%s timeout", op);
	point_at(op, what, pc);
	if (!ctl() || n < 0)
		return 0;
	if (timeout_ns == 0)
		return 1;
	/* pselect's mask holds while it waits: a signal it lets through ends
	 * the wait in the real call. */
	sigset_t old;
	int masked = mask && pthread_sigmask(SIG_SETMASK, mask, &old) == 0;
	uint64_t t0 = rr__sched_vtime();
	int ms = timeout_ns == UINT64_MAX ? -1
		 : timeout_ns / 1000000 > INT32_MAX ? INT32_MAX
						     : (int)((timeout_ns + 999999) / 1000000);
	wait_ready(p, (nfds_t)n, ms, what);
	*waited_ns = rr__sched_vtime() - t0;
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 1;
}

EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	GET(select);
	if (!ctl()) {
		free_point("select");
		return real_select(nfds, r, w, e, tv);
	}
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
		errno = EINVAL;
		return -1;
	}
	uint64_t t = tv ? (uint64_t)tv->tv_sec * 1000000000ull + (uint64_t)tv->tv_usec * 1000ull
			: UINT64_MAX, waited;
	if (!select_wait(nfds, r, w, e, t, NULL, "select", __builtin_return_address(0), &waited))
		return real_select(nfds, r, w, e, tv);
	struct timeval zero = {0, 0};
	int rc = real_select(nfds, r, w, e, &zero);
	if (tv) { /* Linux leaves the time not slept in the timeval */
		uint64_t left = waited < t ? t - waited : 0;
		if (rc == 0)
			left = 0;
		tv->tv_sec = (time_t)(left / 1000000000ull);
		tv->tv_usec = (suseconds_t)(left % 1000000000ull / 1000);
	}
	return rc;
}

EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts,
		   const sigset_t *mask)
{
	GET(pselect);
	if (!ctl()) {
		free_point("pselect");
		return real_pselect(nfds, r, w, e, ts, mask);
	}
	if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)) {
		errno = EINVAL;
		return -1;
	}
	uint64_t t = ts ? (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec : UINT64_MAX,
		 waited;
	if (!select_wait(nfds, r, w, e, t, mask, "pselect", __builtin_return_address(0), &waited))
		return real_pselect(nfds, r, w, e, ts, mask);
	struct timespec zero = {0, 0};
	return real_pselect(nfds, r, w, e, &zero, mask);
}

/* Pipes and sockets in blocking mode only: other fds never block for long. */
static int blocking_stream(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return 0;
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && !(fl & O_NONBLOCK);
}

static void io_wait(const char *op, int fd, short events, const void *pc)
{
	char what[32];
	snprintf(what, sizeof what, "%s fd %d", op, fd);
	point_at(op, what, pc);
	if (!ctl())
		return;
	struct pollfd p = {.fd = fd, .events = events};
	wait_ready(&p, 1, -1, what);
}

#define IO_SHIM(op, events, call)                                                                  \
	do {                                                                                       \
		if (ctl() && blocking_stream(fd))                                                  \
			io_wait(op, fd, events, __builtin_return_address(0));                      \
		return call;                                                                       \
	} while (0)

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	GET(read);
	IO_SHIM("read", POLLIN, real_read(fd, buf, len));
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	GET(write);
	IO_SHIM("write", POLLOUT, real_write(fd, buf, len));
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	GET(recv);
	IO_SHIM("recv", POLLIN, real_recv(fd, buf, len, flags));
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	GET(send);
	IO_SHIM("send", POLLOUT, real_send(fd, buf, len, flags));
}

EXPORT int accept(int fd, struct sockaddr *a, socklen_t *alen)
{
	GET(accept);
	IO_SHIM("accept", POLLIN, real_accept(fd, a, alen));
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t alen)
{
	GET(connect);
	if (ctl())
		point_at("connect", NULL, __builtin_return_address(0));
	return real_connect(fd, a, alen);
}

/* ---- free: a point after it takes effect ----
 * A switch between a free and the store that unpublishes the pointer is a
 * use-after-free window no other point reaches in a program built without
 * load/store hooks. Only frees the program asks for are points: glibc's own
 * (fclose, TLS and key destructors, at exit) and the dynamic loader's may
 * hold a lock the runtime cannot see, and the runtime's own must not recurse.
 * A free called after the thread left its slot (thread exit, at exit) or
 * before the constructor fails on() anyway. In a program built by racerepro
 * cc, __wrap_free (rr-cov.o) is the point: a sanitizer's free in the
 * executable never calls this one, and without a sanitizer this one is what
 * __real_free reaches, so a call from __wrap_free is not a second point.
 * C++'s delete: libstdc++'s calls free (a point here); racerepro c++ also
 * wraps it, for a sanitizer's delete, which does not. */

void __libc_free(void *p);

#define N_WRAPS 5
static const char *const wraps[N_WRAPS] = {"__wrap_free", "__wrap__ZdlPv", "__wrap__ZdaPv",
					   "__wrap__ZdlPvm", "__wrap__ZdaPvm"};
static struct {
	uintptr_t lo, hi;
} not_program[3 + N_WRAPS]; /* libc, the dynamic loader, this runtime, rr-cov.o's wrappers */
static TLS const void *free_pointed; /* the runtime's free made the point for it */

static int find_libs(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	uintptr_t lo = 0, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		lo = info->dlpi_addr + ph->p_vaddr;
		hi = lo + ph->p_memsz;
	}
	int k = -1;
	if (!strncmp(base, "libc.so", 7))
		k = 0;
	else if (!strncmp(base, "ld-linux", 8))
		k = 1;
	else if ((uintptr_t)&find_libs >= lo && (uintptr_t)&find_libs < hi)
		k = 2;
	if (k >= 0) {
		not_program[k].lo = lo;
		not_program[k].hi = hi;
	}
	return 0;
}

static void find_free_callers(void)
{
	dl_iterate_phdr(find_libs, NULL);
	for (int i = 0; i < N_WRAPS; i++) {
		void *p = dlsym(RTLD_DEFAULT, wraps[i]);
		Dl_info di;
		const ElfW(Sym) *sym = NULL;
		if (p && dladdr1(p, &di, (void **)&sym, RTLD_DL_SYMENT) && sym) {
			not_program[3 + i].lo = (uintptr_t)p;
			not_program[3 + i].hi = not_program[3 + i].lo + (sym->st_size ? sym->st_size : 64);
		}
	}
}

static int freed(const void *p, const void *pc)
{
	if (!ctl())
		return 0;
	for (int i = 0; i < 3 + N_WRAPS; i++)
		if ((uintptr_t)pc - not_program[i].lo < not_program[i].hi - not_program[i].lo)
			return 0;
	char what[40] = "";
	if (__atomic_load_n(&S->nevents, __ATOMIC_RELAXED) < RR_MAX_EVENTS) {
		struct sb b = {what, sizeof what};
		sb_str(&b, "free ");
		sb_hex(&b, (uintptr_t)p);
	}
	point_at("free", what, pc);
	return 1;
}

/* The next free, not glibc's: an allocator the program links (jemalloc,
 * gcc's shared libasan) comes after the preload, and its memory must go back
 * to it, also before the constructor has run (libasan initialises first).
 * Found without dlsym: free is called from inside dlsym and dlerror (the
 * last error string), and a nested dlsym corrupts their state. So the
 * objects loaded after the runtime are searched in order, through their own
 * GNU hash tables; dl_iterate_phdr takes no lock dlsym or dlerror hold. */
static void (*next_free)(void *);

static uint32_t gnu_hash(const char *name)
{
	uint32_t h = 5381;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = h * 33 + *c;
	return h;
}

/* NAME defined in the object of INFO, through its DT_GNU_HASH, or NULL. */
static void *object_sym(const struct dl_phdr_info *info, const char *name)
{
	const ElfW(Dyn) *dyn = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
			dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	const ElfW(Sym) *symtab = NULL;
	const char *strtab = NULL;
	const uint32_t *gnu = NULL;
	for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t v = dyn->d_un.d_ptr;
		if (v < info->dlpi_addr) /* ld.so relocates these in place, but not everywhere */
			v += info->dlpi_addr;
		if (dyn->d_tag == DT_SYMTAB)
			symtab = (const ElfW(Sym) *)v;
		else if (dyn->d_tag == DT_STRTAB)
			strtab = (const char *)v;
		else if (dyn->d_tag == DT_GNU_HASH)
			gnu = (const uint32_t *)v;
	}
	if (!symtab || !strtab || !gnu || !gnu[0])
		return NULL;
	uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom_size = gnu[2];
	const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)&gnu[4] + bloom_size);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t h = gnu_hash(name);
	for (uint32_t i = buckets[h % nbuckets]; i >= symoffset; i++) {
		uint32_t h2 = chain[i - symoffset];
		const ElfW(Sym) *sym = &symtab[i];
		if ((h | 1) == (h2 | 1) && sym->st_shndx != SHN_UNDEF &&
		    ELF64_ST_TYPE(sym->st_info) == STT_FUNC && !strcmp(strtab + sym->st_name, name))
			return (void *)(info->dlpi_addr + sym->st_value);
		if (h2 & 1)
			break;
	}
	return NULL;
}

static int find_next_free(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	int *after = arg;
	if (!*after) {
		uintptr_t self = (uintptr_t)&find_next_free;
		for (int i = 0; i < info->dlpi_phnum; i++) {
			const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
			uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
			if (ph->p_type == PT_LOAD && self - lo < ph->p_memsz)
				*after = 1;
		}
		return 0;
	}
	void *f = object_sym(info, "free");
	if (f)
		__atomic_store_n((void **)&next_free, f, __ATOMIC_RELEASE);
	return f != NULL;
}

static void (*free_fn(void))(void *)
{
	void (*f)(void *) = __atomic_load_n(&next_free, __ATOMIC_ACQUIRE);
	if (__builtin_expect(f != NULL, 1))
		return f;
	int after = 0;
	dl_iterate_phdr(find_next_free, &after);
	f = __atomic_load_n(&next_free, __ATOMIC_ACQUIRE);
	if (!f) { /* no hash table found it: glibc's own */
		f = __libc_free;
		__atomic_store_n(&next_free, f, __ATOMIC_RELEASE);
	}
	return f;
}

/* The cost when racerepro is not running the program (active is 0): a call,
 * two loads and an indirect call on top of the real free. */
EXPORT void free(void *p)
{
	free_fn()(p);
	if (__builtin_expect(active, 0) && p)
		free_pointed = freed(p, __builtin_return_address(0)) ? p : NULL;
}

/* racerepro cc's __wrap_free, after the real free (a sanitizer's or ours). */
EXPORT void rr__free_point(const void *p, const void *pc);
EXPORT void rr__free_point(const void *p, const void *pc)
{
	if (active && p)
		freed(p, pc);
}

/* racerepro c++'s operator delete wrappers. libstdc++'s delete tail-calls
 * free, so the runtime's free sees the wrapper as its caller and leaves the
 * point to it; had it made the point itself (a delete that does not
 * tail-call), the wrapper makes none. */
EXPORT void rr__delete_point(const void *p, const void *pc);
EXPORT void rr__delete_point(const void *p, const void *pc)
{
	if (!active || !p)
		return;
	if (free_pointed == p) {
		free_pointed = NULL;
		return;
	}
	freed(p, pc);
}

/* ---- memory points: racerepro cc's load/store hooks land here ---- */

EXPORT void rr__mem_point(const void *addr, int store, const void *pc);
EXPORT void rr__mem_point(const void *addr, int store, const void *pc)
{
	uintptr_t a = (uintptr_t)addr;
	if (a - stack_lo < stack_hi - stack_lo)
		return; /* the thread's own stack: never shared in these programs */
	if (!on())
		return;
	char what[40] = "";
	if (__atomic_load_n(&S->nevents, __ATOMIC_RELAXED) < RR_MAX_EVENTS) {
		struct sb b = {what, sizeof what};
		sb_str(&b, store ? "store " : "load ");
		sb_hex(&b, a);
	}
	point_at(store ? "store" : "load", what, pc);
}

/* ---- the scenario table, which the runtime has none of ----
 * context.c (rr_param_str) links repro.c's parameter table, which can look
 * scenarios up; in a program under exec there are none to find. */

const struct rr_scenario *rr__scenario_find(const char *name)
{
	(void)name;
	return NULL;
}

const struct rr_variant *rr__variant_find(const struct rr_scenario *sc, const char *name)
{
	(void)sc;
	(void)name;
	return NULL;
}

/* ---- processes: --follow-exec ----
 * With --follow-exec the preload, the memfd and RR_EXEC_* stay in the
 * environment of what the program execs. A fork of a controlled process gets
 * a slot of its own (p1, p2, ... like rr_process_start), an exec'd image
 * takes over the slot of the thread that called exec (same pid), and a wait
 * for a controlled child parks like rr_process_wait, so that a wrapper script
 * waiting for its test binary does not sit in the kernel with the token.
 * Without --follow-exec a forked copy is no slot and runs free, and exec'd
 * programs run without the runtime (rt_init strips it). */

#define MAX_KIDS 64
static struct {
	pid_t pid;
	int slot;
} kids[MAX_KIDS]; /* this process's controlled children */
static int nkids;

static unsigned next_thread_number(void)
{
	return __atomic_add_fetch(&rr__ctx.shm->exec_threads, 1, __ATOMIC_SEQ_CST);
}

/* An image of a process the schedule knows takes its slot: the program the
 * worker started, a controlled fork, or what one of them exec'd. Anything
 * else (a posix_spawn or system() child, whose environment still names some
 * other process's slot) stays passive. */
static int follow_claim(struct rr__worker_shm *w, int slot)
{
	struct rr__sched *s = &w->sched;
	int n = __atomic_load_n(&s->nslots, __ATOMIC_SEQ_CST);
	if (slot < 0 || slot >= n || s->slots[slot].pid != getpid() ||
	    s->slots[slot].state == RR_SLOT_EXITED)
		return 0;
	/* exec ended every other thread of this process. */
	for (int i = 0; i < n; i++)
		if (i != slot && s->slots[i].pid == getpid())
			__atomic_store_n(&s->slots[i].state, RR_SLOT_EXITED, __ATOMIC_SEQ_CST);
	return 1;
}

/* The environment an exec'd image needs to re-attach: ENVP without our
 * variables, then ours, naming SLOT; the preload put back if the program
 * dropped it. malloc'd. */
static char **follow_env(char *const envp[], int slot)
{
	static const char *const ours[] = {"RR_EXEC_SLOT=", "RR_EXEC_SHM_FD=", "RR_EXEC_FOLLOW=",
					   NULL};
	Dl_info di;
	const char *rt = dladdr((void *)follow_env, &di) && di.dli_fname ? di.dli_fname : "";
	size_t n = 0;
	while (envp && envp[n])
		n++;
	char **env = malloc((n + 5) * sizeof *env);
	static char vars[4][8192];
	if (!env)
		return NULL;
	vars[3][0] = '\0';
	size_t k = 0;
	int have_preload = 0;
	for (size_t i = 0; i < n; i++) {
		int skip = 0;
		for (int j = 0; ours[j]; j++)
			skip |= !strncmp(envp[i], ours[j], strlen(ours[j]));
		if (!strncmp(envp[i], "LD_PRELOAD=", 11)) {
			if (!*rt || strstr(envp[i], rt))
				have_preload = 1;
			else
				skip = 1; /* replaced below, with the runtime in front */
			if (skip)
				snprintf(vars[3], sizeof vars[3], "LD_PRELOAD=%s:%s", rt, envp[i] + 11);
		}
		if (!skip)
			env[k++] = envp[i];
	}
	snprintf(vars[0], sizeof vars[0], "RR_EXEC_SLOT=%d", slot);
	snprintf(vars[1], sizeof vars[1], "RR_EXEC_SHM_FD=%d", shm_fd);
	snprintf(vars[2], sizeof vars[2], "RR_EXEC_FOLLOW=1");
	env[k++] = vars[0];
	env[k++] = vars[1];
	env[k++] = vars[2];
	if (!have_preload && *rt) {
		if (strncmp(vars[3], "LD_PRELOAD=", 11))
			snprintf(vars[3], sizeof vars[3], "LD_PRELOAD=%s", rt);
		env[k++] = vars[3];
	}
	env[k] = NULL;
	return env;
}

REAL(int, execve, const char *, char *const[], char *const[]);
REAL(int, execvpe, const char *, char *const[], char *const[]);

/* Every exec variant ends here: SEARCH for the PATH lookup of execvp. */
static int do_exec(const char *file, char *const argv[], char *const envp[], int search,
		   const void *pc)
{
	GET(execve);
	GET(execvpe);
	if (!follow || !on())
		return search ? real_execvpe(file, argv, envp) : real_execve(file, argv, envp);
	char what[RR_DETAIL];
	snprintf(what, sizeof what, "%.100s", file);
	point_at("exec", what, pc);
	int slot = self_slot();
	char **env = follow_env(envp, slot);
	if (!env)
		return search ? real_execvpe(file, argv, envp) : real_execve(file, argv, envp);
	enter();
	rr__trace_note("exec", "%s execs %.100s", S->slots[slot].role, file);
	leave();
	/* After exec the calling thread is the process's only thread. */
	S->slots[slot].tid = getpid();
	__atomic_store_n(&rr__mem_armed, 0, __ATOMIC_SEQ_CST);
	int rc = search ? real_execvpe(file, argv, env) : real_execve(file, argv, env);
	int e = errno;
	S->slots[slot].tid = gettid_now();
	__atomic_store_n(&rr__mem_armed, 1, __ATOMIC_SEQ_CST);
	free(env);
	errno = e;
	return rc;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	return do_exec(path, argv, envp, 0, __builtin_return_address(0));
}

EXPORT int execv(const char *path, char *const argv[])
{
	return do_exec(path, argv, environ, 0, __builtin_return_address(0));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return do_exec(file, argv, envp, 1, __builtin_return_address(0));
}

EXPORT int execvp(const char *file, char *const argv[])
{
	return do_exec(file, argv, environ, 1, __builtin_return_address(0));
}

/* execl, execlp, execle: the list as an argv (and execle's envp after it). */
static int exec_list(const char *file, const char *arg0, va_list ap, int search, int with_env,
		     const void *pc)
{
	enum { MAX_LIST = 4096 };
	static char *argv[MAX_LIST + 1];
	int n = 0;
	argv[n++] = (char *)arg0;
	while (arg0 && n < MAX_LIST && (argv[n] = va_arg(ap, char *)))
		n++;
	if (n == MAX_LIST) {
		errno = E2BIG;
		return -1;
	}
	argv[n] = NULL;
	char *const *envp = with_env ? va_arg(ap, char *const *) : environ;
	return do_exec(file, argv, envp, search, pc);
}

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = exec_list(path, arg, ap, 0, 0, __builtin_return_address(0));
	va_end(ap);
	return rc;
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = exec_list(file, arg, ap, 1, 0, __builtin_return_address(0));
	va_end(ap);
	return rc;
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	int rc = exec_list(path, arg, ap, 0, 1, __builtin_return_address(0));
	va_end(ap);
	return rc;
}

EXPORT pid_t fork(void)
{
	GET(fork);
	if (!follow || !on()) {
		pid_t pid = real_fork();
		if (pid == 0 && active) {
			/* A forked copy is no slot: it runs free (fork+exec is exec
			 * mode's own business, in the worker). */
			active = 0;
			__atomic_store_n(&rr__mem_armed, 0, __ATOMIC_SEQ_CST);
		}
		return pid;
	}
	char role[24];
	enter();
	snprintf(role, sizeof role, "p%u", __atomic_add_fetch(&rr__ctx.shm->exec_procs, 1,
							       __ATOMIC_SEQ_CST));
	int slot = rr__slot_add(role, 0);
	leave();
	pid_t pid = real_fork();
	if (pid < 0) {
		int e = errno;
		S->slots[slot].state = RR_SLOT_EXITED;
		errno = e;
		return pid;
	}
	if (pid == 0) {
		/* Only the forking thread lives on, in a slot of its own: it waits
		 * for the token like a new thread. */
		nkids = 0;
		S->slots[slot].pid = getpid();
		S->slots[slot].tid = gettid_now();
		rr__sched_set_self(slot);
		enter();
		rr__sched_wait_token();
		leave();
		return 0;
	}
	/* Set here too, so that it is set before anyone evaluates a wait on the
	 * child, whichever process runs first. */
	S->slots[slot].pid = pid;
	if (nkids < MAX_KIDS) {
		kids[nkids].pid = pid;
		kids[nkids].slot = slot;
		nkids++;
	}
	enter();
	rr__trace_note("fork", "started process %s (pid %d)", role, (int)pid);
	leave();
	point_at("fork", role, __builtin_return_address(0));
	return pid;
}

/* vfork as fork (POSIX allows it): a wrapper cannot return into a vfork
 * child, and a shell's vfork+exec then gets a slot like fork+exec. */
EXPORT pid_t vfork(void)
{
	return fork();
}

/* Before a blocking wait: parks until the controlled child it waits for (PID,
 * or for -1 and process groups the first one still running) has exited. */
static void wait_child(pid_t pid, int options, const void *pc)
{
	if (!follow || !ctl())
		return;
	point_at("wait", NULL, pc);
	if ((options & WNOHANG) || !ctl())
		return;
	int slot = -1;
	for (int i = 0; i < nkids; i++) {
		if (pid > 0 && kids[i].pid != pid)
			continue;
		if (S->slots[kids[i].slot].state == RR_SLOT_EXITED)
			return; /* one has ended already: the real wait returns it */
		if (slot < 0)
			slot = kids[i].slot;
	}
	if (slot < 0)
		return;
	char what[RR_DETAIL];
	enter();
	snprintf(what, sizeof what, "wait %s", S->slots[slot].role);
	rr__sched_park((uint64_t)slot, 0, what, RR_WAIT_SLOT);
	leave();
}

static void child_reaped(pid_t pid)
{
	for (int i = 0; pid > 0 && i < nkids; i++)
		if (kids[i].pid == pid) {
			kids[i] = kids[--nkids];
			return;
		}
}

REAL(pid_t, wait4, pid_t, int *, int, struct rusage *);
REAL(int, waitid, idtype_t, id_t, siginfo_t *, int);

EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
	GET(wait4);
	wait_child(pid, options, __builtin_return_address(0));
	pid_t r = real_wait4(pid, status, options, ru);
	child_reaped(r);
	return r;
}

EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
	GET(wait4);
	wait_child(pid, options, __builtin_return_address(0));
	pid_t r = real_wait4(pid, status, options, NULL);
	child_reaped(r);
	return r;
}

EXPORT pid_t wait(int *status)
{
	GET(wait4);
	wait_child(-1, 0, __builtin_return_address(0));
	pid_t r = real_wait4(-1, status, 0, NULL);
	child_reaped(r);
	return r;
}

EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
	GET(wait4);
	wait_child(-1, options, __builtin_return_address(0));
	pid_t r = real_wait4(-1, status, options, ru);
	child_reaped(r);
	return r;
}

EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
	GET(waitid);
	wait_child(type == P_PID ? (pid_t)id : -1, options, __builtin_return_address(0));
	int rc = real_waitid(type, id, info, options);
	if (rc == 0 && info && !(options & WNOWAIT))
		child_reaped(info->si_pid);
	return rc;
}

/* A forked shell child often ends with _exit: a process exit like exit's. */
REAL(void, _exit, int);

EXPORT void _exit(int code)
{
	GET(_exit);
	if (follow)
		process_ending(__builtin_return_address(0));
	real__exit(code);
	__builtin_unreachable(); /* the real _exit does not return */
}

EXPORT void _Exit(int code)
{
	_exit(code);
}
