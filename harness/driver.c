/*
 * driver.c: the iteration loop, worker processes, the watchdog, budgets and
 * signals.
 *
 * Each worker is a forked process in its own process group that runs the
 * scenario's setup once and then many iterations (persistent, like AFL++'s
 * persistent mode), claiming iteration indices from a counter shared by all
 * workers of the cell, so that iteration i always gets the same timing seed
 * whichever worker runs it. A worker ends at the first failure (its process
 * state cannot be trusted after one) and the driver starts a fresh one. The
 * driver never runs scenario code itself: a crashing scenario cannot take the
 * driver or the reports with it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"

#if defined(RR_BUILD_ASAN) || defined(RR_BUILD_TSAN) || defined(RR_BUILD_UBSAN)
void __sanitizer_set_report_path(const char *path);
#define HAVE_SANITIZER 1
#else
#define HAVE_SANITIZER 0
#endif

/* Sanitizers stop at the first report and exit with the code the driver reads
 * as `sanitizer`; the worker's log path is set at run time. */
#define SAN_COMMON "halt_on_error=1:exitcode=66:print_stacktrace=1:handle_abort=0"
/* The sanitizers call these before they are set up: clang must not
 * instrument them (gcc does not). */
#if defined(__clang__)
#define RR_SAN_OPTIONS_FN __attribute__((disable_sanitizer_instrumentation))
#else
#define RR_SAN_OPTIONS_FN
#endif
const char *__asan_default_options(void);
RR_SAN_OPTIONS_FN const char *__asan_default_options(void)
{
	return SAN_COMMON ":detect_leaks=1:abort_on_error=0";
}
const char *__tsan_default_options(void);
RR_SAN_OPTIONS_FN const char *__tsan_default_options(void)
{
	return SAN_COMMON ":second_deadlock_stack=1:report_signal_unsafe=0";
}
const char *__ubsan_default_options(void);
RR_SAN_OPTIONS_FN const char *__ubsan_default_options(void)
{
	return SAN_COMMON;
}

static volatile sig_atomic_t interrupted_by;

static void on_signal(int sig)
{
	interrupted_by = sig;
}

void rr__driver_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int rr__driver_interrupted(void)
{
	return interrupted_by;
}

/* ------------------------------------------------------------------------ */
/* The worker                                                                */
/* ------------------------------------------------------------------------ */

static uint64_t build_scale(void)
{
	return !strcmp(RR_BUILD_NAME, "tsan") ? 4 : !strcmp(RR_BUILD_NAME, "asan") ? 2 : 1;
}

/* The concrete strategy of iteration INDEX; portfolio asks its bandit and
 * counts the play in the run's shared counters. */
static int iteration_strategy(const struct rr__run_config *cfg, struct rr__run_shm *rs,
			      uint64_t index)
{
	if (cfg->strategy != RR_STRAT_PORTFOLIO)
		return cfg->strategy;
	uint64_t plays[RR_NSTRATEGIES], wins[RR_NSTRATEGIES];
	for (int i = 0; i < RR_NSTRATEGIES; i++) {
		plays[i] = __atomic_load_n(&rs->arm_plays[i], __ATOMIC_SEQ_CST);
		wins[i] = __atomic_load_n(&rs->arm_wins[i], __ATOMIC_SEQ_CST);
	}
	int strategy = rr__portfolio_pick(index, plays, wins);
	__atomic_fetch_add(&rs->arm_plays[strategy], 1, __ATOMIC_SEQ_CST);
	return strategy;
}

/* Runs one iteration in this process; returns iterate()'s result. */
static int run_iteration(const struct rr__run_config *cfg, struct rr__run_shm *rs, void *state,
			 uint64_t index, uint32_t pct_steps)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	int strategy = iteration_strategy(cfg, rs, index);
	uint64_t seed = cfg->exact_seed ? cfg->seed : rr__iteration_seed(cfg->seed, index);
	w->iter_index = index;
	w->iter_seed = seed;
	w->message[0] = '\0';
	__atomic_store_n(&w->finding, RR_PASS, __ATOMIC_SEQ_CST);
	w->iter_started_ns = rr__mono_ns();
	__atomic_store_n(&w->state, RR_W_ITERATING, __ATOMIC_SEQ_CST);
	rr__sched_begin(&w->sched, strategy, seed, cfg->input, cfg->ninput, cfg->pct_depth,
			pct_steps, cfg->scenario->roles[0]);
	int rc = cfg->scenario->iterate(state);
	rr__sched_end(&w->sched);
	if (rc >= 0)
		rr__lifetime_iteration_end();
	__atomic_store_n(&w->state, RR_W_IDLE, __ATOMIC_SEQ_CST);
	return rc;
}

/* The iteration loop shared by worker processes and --no-fork. */
static int iterate_loop(const struct rr__run_config *cfg, struct rr__run_shm *rs)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	void *state = NULL;
	if (cfg->scenario->setup) {
		int rc = cfg->scenario->setup(&state);
		if (rc == RR_SKIP)
			return RR_WEXIT_SKIP;
		if (rc < 0)
			return RR_WEXIT_ERROR;
	}
	/* PCT draws its change points over the expected number of decisions,
	 * learned here from the iterations this worker has run. */
	uint64_t decisions = 0, controlled_runs = 0;
	int rc = RR_WEXIT_DONE;
	for (;;) {
		if (__atomic_load_n(&rs->stop, __ATOMIC_SEQ_CST))
			break;
		uint64_t index = __atomic_fetch_add(&rs->next_iteration, 1, __ATOMIC_SEQ_CST);
		if (rs->budget && index >= rs->budget)
			break;
		uint32_t steps = cfg->pct_steps;
		if (!steps)
			steps = controlled_runs ? (uint32_t)(decisions / controlled_runs) : 32;
		if (steps < 4)
			steps = 4;
		if (run_iteration(cfg, rs, state, index, steps) < 0) {
			rc = RR_WEXIT_ERROR;
			break;
		}
		if (w->sched.controlled) {
			decisions += w->sched.ndecisions;
			controlled_runs++;
		}
		__atomic_fetch_add(&w->strat_passes[w->sched.strategy], 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&w->passes, 1, __ATOMIC_SEQ_CST);
	}
	if (cfg->scenario->teardown)
		cfg->scenario->teardown(state);
	__atomic_store_n(&w->state, RR_W_DONE, __ATOMIC_SEQ_CST);
	return rc;
}

static void worker_main(const struct rr__run_config *cfg, struct rr__worker_shm *w,
			struct rr__run_shm *rs, const char *log_path, const char *san_prefix,
			const char *core_dir, pid_t driver)
{
	setpgid(0, 0);
	/* A driver killed with SIGKILL must not leave workers looping. If it
	 * died before the prctl, no signal will come: check by hand. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != driver)
		_exit(RR_WEXIT_DONE);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN); /* bitcoind ignores it too: writes fail with EPIPE */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int devnull = open("/dev/null", O_RDWR);
	int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (devnull >= 0)
		dup2(devnull, 0);
	if (log >= 0) {
		dup2(log, 1);
		dup2(log, 2);
		close(log);
	}
	if (devnull > 2)
		close(devnull);
	/* A crash leaves its core in the worker's own folder (core_pattern
	 * "core" is relative to the working directory), where the driver runs
	 * gdb on it. Every path the worker uses is absolute. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_CORE, &rl);
	}
	if (chdir(core_dir) < 0)
		fprintf(stderr, "racerepro: chdir(%s): %s\n", core_dir, strerror(errno));
#if HAVE_SANITIZER
	__sanitizer_set_report_path(san_prefix);
#else
	(void)san_prefix;
#endif
	rr__ctx.cfg = cfg;
	rr__ctx.shm = w;
	rr__ctx.in_process = 0;
	int rc = iterate_loop(cfg, rs);
	if (rc == RR_WEXIT_DONE)
		exit(0); /* exit, not _exit: LeakSanitizer checks here */
	rr__exit_now(rc);
}

/* ------------------------------------------------------------------------ */
/* Workers seen from the driver                                              */
/* ------------------------------------------------------------------------ */

struct worker {
	pid_t pid;
	int index;
	int generation;
	int watchdog;
	uint64_t spawned_ns;
	struct rr__worker_shm *shm;
	char log_path[PATH_MAX];
	char san_prefix[PATH_MAX];
	char core_dir[PATH_MAX];
	char *hang_backtrace; /* gdb's view of a hung worker, taken before the kill */
};

static void *map_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		rr__fatal("mmap(%zu bytes shared): %s", size, strerror(errno));
	return p;
}

static int spawn_worker(const struct rr__run_config *cfg, struct rr__run_shm *rs, struct worker *wk,
			const char *logdir)
{
	struct rr__worker_shm *w = wk->shm;
	memset(w, 0, offsetof(struct rr__worker_shm, sched));
	memset(&w->sched, 0, offsetof(struct rr__sched, input));
	for (int i = 0; i < RR_MAX_TRACKED; i++)
		w->tracked_shm[i] = -1; /* 0 is a valid shmid: never remove it by mistake */
	wk->generation++;
	wk->watchdog = 0;
	snprintf(wk->log_path, sizeof wk->log_path, "%s/w%d-%d.log", logdir, wk->index,
		 wk->generation);
	snprintf(wk->san_prefix, sizeof wk->san_prefix, "%s/w%d-%d.san", logdir, wk->index,
		 wk->generation);
	snprintf(wk->core_dir, sizeof wk->core_dir, "%s/w%d-%d.d", logdir, wk->index,
		 wk->generation);
	if (mkdir(wk->core_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	fflush(NULL);
	pid_t driver = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		worker_main(cfg, w, rs, wk->log_path, wk->san_prefix, wk->core_dir, driver);
	setpgid(pid, pid);
	wk->pid = pid;
	wk->spawned_ns = rr__mono_ns();
	return 0;
}

/* Reads every sanitizer log file the worker's processes wrote. */
static char *read_san_logs(const char *prefix)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", prefix);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	const char *base = slash + 1;
	size_t blen = strlen(base);
	DIR *d = opendir(dir);
	if (!d)
		return NULL;
	char *all = NULL;
	size_t len = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, base, blen) || de->d_name[blen] != '.')
			continue;
		char path[PATH_MAX * 2];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		char buf[8192];
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, f)) > 0 && len < (1u << 22)) {
			char *p = realloc(all, len + n + 1);
			if (!p)
				break;
			all = p;
			memcpy(all + len, buf, n);
			len += n;
			all[len] = '\0';
		}
		fclose(f);
	}
	closedir(d);
	return all;
}

static void remove_san_logs(const char *prefix)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", prefix);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	const char *base = slash + 1;
	size_t blen = strlen(base);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, base, blen) && de->d_name[blen] == '.') {
			char path[PATH_MAX * 2];
			snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
			unlink(path);
		}
	}
	closedir(d);
}

/* Removes what a dead worker may have left: its process group, its System V
 * segments, its scratch directory. */
static void clean_after(struct worker *wk)
{
	kill(-wk->pid, SIGKILL);
	struct rr__worker_shm *w = wk->shm;
	int n = w->ntracked < RR_MAX_TRACKED ? w->ntracked : RR_MAX_TRACKED;
	for (int i = 0; i < n; i++)
		if (w->tracked_shm[i] >= 0)
			shmctl(w->tracked_shm[i], IPC_RMID, NULL);
	w->ntracked = 0;
	if (w->scratch[0] && !strncmp(w->scratch, "/", 1) && strstr(w->scratch, "racerepro-"))
		rr__remove_tree(w->scratch);
	w->scratch[0] = '\0';
	if (wk->core_dir[0])
		rr__remove_tree(wk->core_dir);
	free(wk->hang_backtrace);
	wk->hang_backtrace = NULL;
}

static void write_text(const char *path, const char *text);

/* The core file a crashed worker left in its folder, if any. */
static int find_core(const char *dir, char *out, size_t cap)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	int found = 0;
	while (!found && (de = readdir(d)))
		if (!strncmp(de->d_name, "core", 4)) {
			snprintf(out, cap, "%s/%s", dir, de->d_name);
			found = 1;
		}
	closedir(d);
	return found;
}

/* Backtraces of a new crash or hang, next to its reproducer. */
static void save_backtrace(struct rr__run *run, const struct rr__run_config *cfg,
			   struct worker *wk, const struct rr__signature *s)
{
	char *bt = NULL, core[PATH_MAX + 300], path[PATH_MAX + 256];
	int have_core = s->klass == RR_CRASH && find_core(wk->core_dir, core, sizeof core);
	if (have_core)
		bt = rr__backtrace_core(core);
	else if (s->klass == RR_HANG && wk->hang_backtrace)
		bt = strdup(wk->hang_backtrace);
	if (bt) {
		snprintf(path, sizeof path, "%s/%s/backtrace.txt", run->dir, s->dir);
		write_text(path, bt);
		free(bt);
	}
	if (have_core && cfg->keep_cores) {
		snprintf(path, sizeof path, "%s/%s/core", run->dir, s->dir);
		if (rename(core, path) < 0)
			fprintf(stderr, "racerepro: keeping %s: %s\n", core, strerror(errno));
	}
}

static void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY);
	if (in < 0)
		return;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out >= 0) {
		char buf[16384];
		ssize_t n;
		while ((n = read(in, buf, sizeof buf)) > 0)
			if (write(out, buf, (size_t)n) != n)
				break;
		close(out);
	}
	close(in);
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len)
		fprintf(stderr, "racerepro: writing %s: %s\n", path, strerror(errno));
	close(fd);
}

static void fill_repro(const struct rr__run_config *cfg, const struct rr__sched *s,
		       uint64_t seed, const char *sig, struct rr__repro *r)
{
	memset(r, 0, sizeof *r);
	snprintf(r->scenario, sizeof r->scenario, "%s", cfg->scenario->name);
	snprintf(r->variant, sizeof r->variant, "%s", cfg->variant->name);
	snprintf(r->strategy, sizeof r->strategy, "%s", rr__strategy_names[s->strategy]);
	r->seed = seed;
	r->pct_depth = s->pct_depth;
	r->pct_steps = s->pct_steps;
	if (s->strategy == RR_STRAT_SURW)
		rr__surw_format(s, r->surw_expect, sizeof r->surw_expect);
	if (s->strategy == RR_STRAT_INPUT && s->abstract) {
		rr__schedule_to_repro(s, cfg->scenario->roles, r);
	} else if (s->strategy == RR_STRAT_INPUT) {
		r->nschedule = s->ninput;
		memcpy(r->schedule, s->input, s->ninput);
	} else if (s->controlled) {
		r->nschedule = s->ndecisions;
		memcpy(r->schedule, s->decisions, s->ndecisions);
	}
	snprintf(r->build, sizeof r->build, "%s", RR_BUILD_NAME);
	snprintf(r->signature, sizeof r->signature, "%s", sig);
	if (cfg->strategy == RR_STRAT_PORTFOLIO)
		snprintf(r->found_by, sizeof r->found_by, "portfolio");
	for (const struct rr_param *p = cfg->scenario->params; p && p->name; p++) {
		if (r->nparams >= RR_MAX_PARAMS)
			break;
		const char *v = p->def;
		for (int i = 0; i < cfg->nparams; i++)
			if (!strcmp(cfg->param_names[i], p->name))
				v = cfg->param_values[i];
		snprintf(r->param_names[r->nparams], sizeof r->param_names[0], "%s", p->name);
		snprintf(r->param_values[r->nparams], sizeof r->param_values[0], "%s", v);
		r->nparams++;
	}
}

/* Saves a failure's evidence under failures/<slug>/ (first occurrence only). */
static void save_failure(struct rr__run *run, const struct rr__run_config *cfg, struct worker *wk,
			 struct rr__signature *s, const char *san_log)
{
	char slug[96];
	rr__slug(s->sig, slug, sizeof slug);
	snprintf(s->dir, sizeof s->dir, "failures/%s-%s", cfg->variant->name, slug);
	char dir[PATH_MAX + 128], path[PATH_MAX + 256];
	snprintf(dir, sizeof dir, "%s/failures", run->dir);
	mkdir(dir, 0700);
	snprintf(dir, sizeof dir, "%s/%s", run->dir, s->dir);
	mkdir(dir, 0700);
	struct rr__repro r;
	fill_repro(cfg, &wk->shm->sched, wk->shm->iter_seed, s->sig, &r);
	snprintf(path, sizeof path, "%s/failure.repro", dir);
	int rc = rr__repro_write(path, &r);
	if (rc < 0) {
		fprintf(stderr, "racerepro: cannot save reproducer %s: %s\n", path, strerror(-rc));
		run->write_failed = 1;
	}
	snprintf(path, sizeof path, "%s/trace.txt", dir);
	FILE *f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s/%s, strategy %s, seed 0x%016" PRIx64 ", iteration %" PRIu64 "\n",
			cfg->scenario->name, cfg->variant->name, r.strategy, r.seed,
			wk->shm->iter_index);
		fprintf(f, "finding: %s\n\n", s->message);
		rr__trace_print(f, &wk->shm->sched, s->message, 0);
		if (fclose(f))
			run->write_failed = 1;
	}
	snprintf(path, sizeof path, "%s/message.txt", dir);
	char msg[RR_MSG + 300];
	snprintf(msg, sizeof msg, "%s\n%s\n", s->sig, s->message);
	write_text(path, msg);
	if (san_log) {
		snprintf(path, sizeof path, "%s/sanitizer.log", dir);
		write_text(path, san_log);
	}
	snprintf(path, sizeof path, "%s/stderr.log", dir);
	copy_file(wk->log_path, path);
}

static struct rr__signature *find_sig(struct rr__cell *cell, const char *sig)
{
	for (int i = 0; i < cell->nsigs; i++)
		if (!strcmp(cell->sigs[i].sig, sig))
			return &cell->sigs[i];
	return NULL;
}

static uint64_t live_passes(const struct worker *wk, int n)
{
	uint64_t sum = 0;
	for (int i = 0; i < n; i++)
		if (wk[i].pid > 0)
			sum += __atomic_load_n(&wk[i].shm->passes, __ATOMIC_SEQ_CST);
	return sum;
}

static void absorb_notes(struct rr__cell *cell, const struct rr__worker_shm *w)
{
	for (int i = 0; i < w->nnotes && i < RR_MAX_NOTES; i++) {
		int j;
		for (j = 0; j < cell->nnotes; j++)
			if (!strcmp(cell->notes[j][0], w->notes[i][0]))
				break;
		if (j == RR_MAX_NOTES)
			continue;
		if (j == cell->nnotes) {
			cell->nnotes++;
			fprintf(stderr, "racerepro: %s/%s: %s: %s\n", cell->scenario->name,
				cell->variant->name, w->notes[i][0], w->notes[i][1]);
		}
		memcpy(cell->notes[j], w->notes[i], sizeof cell->notes[j]);
	}
}

/* A worker ended: count its passes and classify how it ended. */
static void reap(struct rr__run *run, const struct rr__run_config *cfg, struct rr__cell *cell,
		 struct rr__run_shm *rs, struct worker *wk, int status, double elapsed_s,
		 int stopping)
{
	struct rr__worker_shm *w = wk->shm;
	cell->iterations += w->passes;
	cell->counts[RR_PASS] += w->passes;
	for (int i = 0; i < RR_NSTRATEGIES; i++)
		cell->strat_iterations[i] += w->strat_passes[i];
	absorb_notes(cell, w);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	int killed_by_us = stopping && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
			   !wk->watchdog;
	if (code == RR_WEXIT_DONE || killed_by_us) {
		/* A clean end, or the driver itself ended the run. */
	} else if (code == RR_WEXIT_SKIP) {
		cell->skipped = 1;
		snprintf(cell->skip_reason, sizeof cell->skip_reason, "%s", w->message);
	} else {
		char *san = read_san_logs(wk->san_prefix);
		char sig[256], msg[RR_MSG];
		int outcome = rr__classify(status, wk->watchdog, w, san, sig, sizeof sig, msg,
					   sizeof msg);
		cell->counts[outcome]++;
		cell->iterations++;
		int strat = w->sched.strategy;
		if (outcome != RR_ERROR) {
			cell->strat_iterations[strat]++;
			cell->strat_failures[strat]++;
			__atomic_fetch_add(&rs->arm_wins[strat], 1, __ATOMIC_SEQ_CST);
		}
		if (!cell->has_failure && outcome != RR_ERROR) {
			cell->has_failure = 1;
			cell->first_failure_iteration = cell->iterations;
			cell->first_failure_s = elapsed_s;
		}
		struct rr__signature *s = find_sig(cell, sig);
		int is_new = !s;
		if (!s && cell->nsigs < RR_MAX_SIGS) {
			s = &cell->sigs[cell->nsigs++];
			memset(s, 0, sizeof *s);
			snprintf(s->sig, sizeof s->sig, "%s", sig);
			snprintf(s->message, sizeof s->message, "%s", msg);
			snprintf(s->role, sizeof s->role, "%s", w->finding_role);
			snprintf(s->strategy, sizeof s->strategy, "%s", rr__strategy_names[strat]);
			s->klass = outcome;
			s->first_iteration = cell->iterations;
			s->first_s = elapsed_s;
			if (run) {
				save_failure(run, cfg, wk, s, san);
				save_backtrace(run, cfg, wk, s);
			}
		}
		if (s) {
			s->count++;
			if (run && (is_new || s->count <= 20 || (s->count & (s->count - 1)) == 0))
				rr__report_failure(run, cell, s, w->iter_index, rr__strategy_names[strat],
						   w->iter_seed, is_new);
		}
		free(san);
	}
	clean_after(wk);
	/* The logs of each new failure were copied into failures/ above. */
	unlink(wk->log_path);
	remove_san_logs(wk->san_prefix);
	wk->pid = 0;
}

static int make_logdir(struct rr__run *run, char *out, size_t cap)
{
	if (run) {
		char abs[PATH_MAX];
		if (!realpath(run->dir, abs))
			return -errno;
		snprintf(out, cap, "%s/workers", abs);
		if (mkdir(out, 0700) < 0 && errno != EEXIST)
			return -errno;
		return 0;
	}
	snprintf(out, cap, "/tmp/racerepro-%d-XXXXXX", (int)getpid());
	return mkdtemp(out) ? 0 : -errno;
}

int rr__run_cell(const struct rr__run_config *cfg, struct rr__run *run, struct rr__cell *cell)
{
	memset(cell, 0, sizeof *cell);
	cell->scenario = cfg->scenario;
	cell->variant = cfg->variant;
	cell->strategy = cfg->strategy;
	cell->seed = cfg->seed;
	for (int i = 0; i < cfg->nparams && i < RR_MAX_PARAMS; i++) {
		snprintf(cell->param_names[i], sizeof cell->param_names[i], "%s", cfg->param_names[i]);
		snprintf(cell->param_values[i], sizeof cell->param_values[i], "%s",
			 cfg->param_values[i]);
		cell->nparams = i + 1;
	}
	int jobs = cfg->jobs > 0 ? cfg->jobs : 1;
	if (cfg->iterations && (uint64_t)jobs > cfg->iterations)
		jobs = (int)cfg->iterations;
	char logdir[PATH_MAX];
	int rc = make_logdir(run, logdir, sizeof logdir);
	if (rc < 0) {
		fprintf(stderr, "racerepro: cannot make the workers' log folder %s: %s\n", logdir,
			strerror(-rc));
		return RR_EXIT_ENV;
	}
	struct rr__run_shm *rs = map_shared(sizeof *rs);
	rs->budget = cfg->iterations;
	struct worker *wk = calloc((size_t)jobs, sizeof *wk);
	if (!wk)
		rr__fatal("out of memory");
	for (int i = 0; i < jobs; i++) {
		wk[i].index = i;
		wk[i].shm = map_shared(sizeof *wk[i].shm);
	}
	uint64_t timeout = cfg->timeout_ns ? cfg->timeout_ns : 10000000000ull * build_scale();
	uint64_t setup_timeout = 120000000000ull * build_scale();
	uint64_t start = rr__mono_ns(), last_progress = start;
	int stopping = 0, consecutive_errors = 0, exit_code = RR_EXIT_OK;
	int tty = isatty(2) && !cfg->quiet;
	uint64_t progress_every = tty ? 250000000ull : 5000000000ull;
	if (run)
		rr__report_progress(run, cell, 0);
	for (;;) {
		uint64_t now = rr__mono_ns();
		double elapsed = (double)(now - start) / 1e9;
		int alive = 0;
		for (int i = 0; i < jobs; i++) {
			if (wk[i].pid > 0) {
				int st;
				pid_t r = waitpid(wk[i].pid, &st, WNOHANG);
				if (r == wk[i].pid) {
					int errors_before = (int)cell->counts[RR_ERROR];
					reap(run, cfg, cell, rs, &wk[i], st, elapsed, stopping);
					consecutive_errors =
						(int)cell->counts[RR_ERROR] > errors_before
							? consecutive_errors + 1
							: 0;
				} else {
					alive++;
				}
			}
		}
		if (interrupted_by && !stopping) {
			stopping = 1;
			cell->interrupted = 1;
			__atomic_store_n(&rs->stop, 1, __ATOMIC_SEQ_CST);
			for (int i = 0; i < jobs; i++)
				if (wk[i].pid > 0)
					kill(-wk[i].pid, SIGKILL);
		}
		if (cfg->duration_ns && now - start >= cfg->duration_ns && !stopping) {
			stopping = 1;
			__atomic_store_n(&rs->stop, 1, __ATOMIC_SEQ_CST);
		}
		if (cell->skipped || consecutive_errors >= 3 || (run && run->write_failed) ||
		    (cfg->stop_at_first_failure && cell->has_failure)) {
			stopping = 1;
			__atomic_store_n(&rs->stop, 1, __ATOMIC_SEQ_CST);
			for (int i = 0; i < jobs; i++)
				if (wk[i].pid > 0)
					kill(-wk[i].pid, SIGKILL);
		}
		/* The watchdog: an iteration (or a setup) that runs too long is a
		 * hang. Its process group goes, children and all. */
		for (int i = 0; i < jobs; i++) {
			struct worker *x = &wk[i];
			if (x->pid <= 0 || x->watchdog)
				continue;
			int st = __atomic_load_n(&x->shm->state, __ATOMIC_SEQ_CST);
			uint64_t since = st == RR_W_ITERATING ? x->shm->iter_started_ns : x->spawned_ns;
			uint64_t limit = st == RR_W_ITERATING ? timeout : setup_timeout;
			if ((st == RR_W_ITERATING || st == RR_W_STARTING) && now > since + limit) {
				x->watchdog = 1;
				if (run && !cell->counts[RR_HANG])
					x->hang_backtrace = rr__backtrace_attach(x->pid);
				kill(-x->pid, SIGKILL);
			}
		}
		int budget_left = !cfg->iterations ||
				  __atomic_load_n(&rs->next_iteration, __ATOMIC_SEQ_CST) < cfg->iterations;
		if (!stopping && budget_left) {
			for (int i = 0; i < jobs; i++) {
				if (wk[i].pid > 0)
					continue;
				if (spawn_worker(cfg, rs, &wk[i], logdir) < 0) {
					fprintf(stderr, "racerepro: fork: %s\n", strerror(errno));
					stopping = 1;
					exit_code = RR_EXIT_ENV;
					break;
				}
				alive++;
			}
		}
		if (alive == 0 && (stopping || !budget_left))
			break;
		cell->elapsed_s = elapsed;
		if (run && now - last_progress >= progress_every) {
			uint64_t base_it = cell->iterations, base_pass = cell->counts[RR_PASS];
			uint64_t lp = live_passes(wk, jobs);
			cell->iterations += lp;
			cell->counts[RR_PASS] += lp;
			rr__report_progress(run, cell, 0);
			cell->iterations = base_it;
			cell->counts[RR_PASS] = base_pass;
			last_progress = now;
		}
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		struct timespec ts = {0, 20000000};
		sigtimedwait(&set, NULL, &ts);
	}
	cell->elapsed_s = (double)(rr__mono_ns() - start) / 1e9;
	for (int i = 0; i < jobs; i++)
		munmap(wk[i].shm, sizeof *wk[i].shm);
	free(wk);
	munmap(rs, sizeof *rs);
	rmdir(logdir);
	if (run)
		rr__report_progress(run, cell, 1);
	if (cell->counts[RR_ERROR] && cell->iterations == cell->counts[RR_ERROR])
		exit_code = RR_EXIT_ENV;
	return exit_code;
}

/* ------------------------------------------------------------------------ */
/* One iteration, for replay, explain and minimize                           */
/* ------------------------------------------------------------------------ */

int rr__run_once(const struct rr__run_config *cfg, struct rr__once *out)
{
	struct rr__run_config one = *cfg;
	one.iterations = 1;
	one.duration_ns = 0;
	one.jobs = 1;
	one.exact_seed = 1;
	char logdir[PATH_MAX];
	if (make_logdir(NULL, logdir, sizeof logdir) < 0)
		rr__fatal("mkdtemp: %s", strerror(errno));
	struct rr__run_shm *rs = map_shared(sizeof *rs);
	rs->budget = 1;
	struct worker wk;
	memset(&wk, 0, sizeof wk);
	wk.shm = map_shared(sizeof *wk.shm);
	if (spawn_worker(&one, rs, &wk, logdir) < 0)
		rr__fatal("fork: %s", strerror(errno));
	uint64_t timeout = cfg->timeout_ns ? cfg->timeout_ns : 10000000000ull * build_scale();
	int st;
	for (;;) {
		pid_t r = waitpid(wk.pid, &st, WNOHANG);
		if (r == wk.pid)
			break;
		uint64_t now = rr__mono_ns();
		int state = __atomic_load_n(&wk.shm->state, __ATOMIC_SEQ_CST);
		uint64_t since = state == RR_W_ITERATING ? wk.shm->iter_started_ns : wk.spawned_ns;
		if (!wk.watchdog && now > since + timeout * (state == RR_W_ITERATING ? 1 : 12)) {
			wk.watchdog = 1;
			kill(-wk.pid, SIGKILL);
		}
		if (interrupted_by)
			kill(-wk.pid, SIGKILL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		struct timespec ts = {0, 5000000};
		sigtimedwait(&set, NULL, &ts);
	}
	memset(out, 0, sizeof *out);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	if (code == RR_WEXIT_DONE) {
		out->outcome = RR_PASS;
		snprintf(out->sig, sizeof out->sig, "pass");
	} else if (code == RR_WEXIT_SKIP) {
		out->outcome = RR_ERROR;
		snprintf(out->sig, sizeof out->sig, "skipped");
		snprintf(out->message, sizeof out->message, "skipped: %s", wk.shm->message);
	} else {
		char *san = read_san_logs(wk.san_prefix);
		out->outcome = rr__classify(st, wk.watchdog, wk.shm, san, out->sig, sizeof out->sig,
					    out->message, sizeof out->message);
		free(san);
	}
	memcpy(&out->sched, &wk.shm->sched, sizeof out->sched);
	clean_after(&wk);
	unlink(wk.log_path);
	remove_san_logs(wk.san_prefix);
	rmdir(logdir);
	munmap(wk.shm, sizeof *wk.shm);
	munmap(rs, sizeof *rs);
	return out->outcome;
}

/* --no-fork: iterations in this process, for gdb. A finding aborts. */
int rr__run_in_process(const struct rr__run_config *cfg, struct rr__cell *cell);
int rr__run_in_process(const struct rr__run_config *cfg, struct rr__cell *cell)
{
	memset(cell, 0, sizeof *cell);
	cell->scenario = cfg->scenario;
	cell->variant = cfg->variant;
	cell->strategy = cfg->strategy;
	static struct rr__worker_shm w;
	static struct rr__run_shm rs;
	rs.budget = cfg->iterations ? cfg->iterations : 1000;
	for (int i = 0; i < RR_MAX_TRACKED; i++)
		w.tracked_shm[i] = -1;
	signal(SIGPIPE, SIG_IGN);
	rr__ctx.cfg = cfg;
	rr__ctx.shm = &w;
	rr__ctx.in_process = 1;
	uint64_t start = rr__mono_ns();
	int rc = iterate_loop(cfg, &rs);
	cell->iterations = cell->counts[RR_PASS] = w.passes;
	cell->elapsed_s = (double)(rr__mono_ns() - start) / 1e9;
	for (int i = 0; i < w.ntracked; i++)
		if (w.tracked_shm[i] >= 0)
			shmctl(w.tracked_shm[i], IPC_RMID, NULL);
	if (rc == RR_WEXIT_SKIP) {
		cell->skipped = 1;
		snprintf(cell->skip_reason, sizeof cell->skip_reason, "%s", w.message);
		return RR_EXIT_OK;
	}
	if (rc != RR_WEXIT_DONE) {
		cell->counts[RR_ERROR]++;
		return RR_EXIT_ENV;
	}
	return RR_EXIT_OK;
}
