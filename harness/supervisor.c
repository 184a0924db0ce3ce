/*
 * supervisor.c: worker processes, the watchdog, budgets and signals.
 *
 * Each worker is a forked process in its own process group that runs the
 * scenario's setup once and then many iterations through the engine
 * (persistent, like AFL++'s persistent mode), claiming iteration indices from
 * a counter shared by all workers of the cell, so that iteration i always
 * gets the same timing seed whichever worker runs it. A worker ends at the
 * first failure (its process state cannot be trusted after one) and the
 * supervisor starts a fresh one. The supervisor never runs scenario code
 * itself: a crashing scenario cannot take it or the reports with it.
 *
 * One loop serves a cell of many iterations (run, soak, bench trials,
 * statistical replay) and a single iteration (replay, explain, minimize):
 * the latter is a cell with a budget of one and one worker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "evidence.h"
#include "fileio.h"
#include "greybox.h"
#include "report.h"
#include "sanitizer.h"
#include "supervisor.h"

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
 * counts the play in the run's shared counters (rr__run_shm: with --jobs 1
 * the picks are a function of the run seed). */
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

/* Iterations until the shared budget or a stop; returns a worker exit code.
 * Shared by worker processes and --no-fork. */
static int iterate_loop(const struct rr__run_config *cfg, struct rr__worker_shm *w,
			struct rr__run_shm *rs, int in_process)
{
	static uint8_t greybox_input[512];
	struct rr__engine e;
	int rc = rr__engine_setup(&e, cfg, w, in_process);
	if (rc == RR_SKIP)
		return RR_WEXIT_SKIP;
	if (rc < 0)
		return RR_WEXIT_ERROR;
	/* PCT draws its change points over the expected number of decisions,
	 * learned here from the iterations this worker has run. */
	uint64_t decisions = 0, controlled_runs = 0;
	rc = RR_WEXIT_DONE;
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
		int strategy = iteration_strategy(cfg, rs, index);
		uint64_t seed = cfg->exact_seed ? cfg->seed : rr__iteration_seed(cfg->seed, index);
		const uint8_t *input = cfg->input;
		uint32_t ninput = cfg->ninput;
		if (strategy == RR_STRAT_GREYBOX) {
			/* greybox.c picks the schedule; it runs under input. */
			ninput = rr__greybox_next(seed, cfg->scenario->roles, greybox_input,
						  sizeof greybox_input);
			input = greybox_input;
			strategy = RR_STRAT_INPUT;
			rr__input_legacy = 0;
		}
		if (rr__engine_iterate(&e, strategy, index, seed, input, ninput, cfg->pct_depth,
				       steps) < 0) {
			rc = RR_WEXIT_ERROR;
			break;
		}
		if (cfg->strategy == RR_STRAT_GREYBOX)
			rr__greybox_result(&w->sched, input, ninput);
		if (w->sched.controlled) {
			decisions += w->sched.ndecisions;
			controlled_runs++;
		}
		__atomic_fetch_add(&w->strat_passes[w->sched.strategy], 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&w->passes, 1, __ATOMIC_SEQ_CST);
	}
	rr__engine_teardown(&e);
	__atomic_store_n(&w->state, RR_W_DONE, __ATOMIC_SEQ_CST);
	return rc;
}

static void worker_main(const struct rr__run_config *cfg, struct rr__worker_shm *w,
			struct rr__run_shm *rs, const char *log_path, const char *san_prefix,
			const char *core_dir, pid_t driver)
{
	setpgid(0, 0);
	/* A supervisor killed with SIGKILL must not leave workers looping. If
	 * it died before the prctl, no signal will come: check by hand. */
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
	 * "core" is relative to the working directory), where the supervisor
	 * runs gdb on it. Every path the worker uses is absolute. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_CORE, &rl);
	}
	if (chdir(core_dir) < 0)
		fprintf(stderr, "racerepro: chdir(%s): %s\n", core_dir, strerror(errno));
#if RR_HAVE_SANITIZER
	__sanitizer_set_report_path(san_prefix);
#endif
	rr__ctx.san_prefix = san_prefix; /* exec mode hands it to the program */
	int rc = iterate_loop(cfg, w, rs, RR_IN_WORKER);
	if (rc == RR_WEXIT_DONE)
		exit(0); /* exit, not _exit: LeakSanitizer checks here */
	rr__exit_now(rc);
}

/* ------------------------------------------------------------------------ */
/* Workers seen from the supervisor                                          */
/* ------------------------------------------------------------------------ */

struct worker {
	pid_t pid;
	int index;
	int generation;
	int watchdog;
	uint64_t spawned_ns;
	struct rr__worker_shm *shm;
	int shm_fd;
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

/* The worker's status and scheduler state: a memfd (owner-only, closed on
 * exec) rather than an anonymous mapping, so that a program exec mode runs
 * can map the same pages from a descriptor it inherits. */
static struct rr__worker_shm *map_worker_shm(int *fd_out)
{
	int fd = memfd_create("racerepro-worker", MFD_CLOEXEC);
	if (fd < 0)
		rr__fatal("memfd_create: %s", strerror(errno));
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)sizeof(struct rr__worker_shm)) < 0)
		rr__fatal("sizing the worker's shared memory: %s", strerror(errno));
	void *p = mmap(NULL, sizeof(struct rr__worker_shm), PROT_READ | PROT_WRITE, MAP_SHARED,
		       fd, 0);
	if (p == MAP_FAILED)
		rr__fatal("mmap(worker shared memory): %s", strerror(errno));
	*fd_out = fd;
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
	if (pid == 0) {
		rr__ctx.shm_fd = wk->shm_fd;
		worker_main(cfg, w, rs, wk->log_path, wk->san_prefix, wk->core_dir, driver);
	}
	setpgid(pid, pid);
	wk->pid = pid;
	wk->spawned_ns = rr__mono_ns();
	return 0;
}

/* Removes what a dead worker may have left: its process group, its System V
 * segments, its scratch directory, its logs (the logs of each new failure
 * were copied into failures/ already). */
static void clean_after(struct worker *wk)
{
	kill(-wk->pid, SIGKILL);
	struct rr__worker_shm *w = wk->shm;
	rr__engine_remove_segments(w);
	if (w->scratch[0] && !strncmp(w->scratch, "/", 1) && strstr(w->scratch, "racerepro-"))
		rr__remove_tree(w->scratch);
	w->scratch[0] = '\0';
	if (wk->core_dir[0])
		rr__remove_tree(wk->core_dir);
	free(wk->hang_backtrace);
	wk->hang_backtrace = NULL;
	unlink(wk->log_path);
	rr__san_logs_remove(wk->san_prefix);
	wk->pid = 0;
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
	for (int i = 0; i < w->nnotes && i < RR_MAX_NOTES; i++)
		if (rr__note_set(cell->notes, &cell->nnotes, w->notes[i][0], w->notes[i][1]) == 1)
			fprintf(stderr, "racerepro: %s/%s: %s: %s\n", cell->scenario->name,
				cell->variant->name, w->notes[i][0], w->notes[i][1]);
}

/* A failure of the cell: counted, and (when new, with a run) its evidence
 * saved and its event written. */
static void take_failure(struct rr__run *run, const struct rr__run_config *cfg,
			 struct rr__cell *cell, struct rr__run_shm *rs, struct worker *wk,
			 int outcome, const char *sig, const char *msg, const char *san,
			 double elapsed_s, uint64_t live)
{
	struct rr__worker_shm *w = wk->shm;
	cell->counts[outcome]++;
	cell->iterations++;
	int strat = w->sched.strategy;
	if (outcome != RR_ERROR) {
		cell->strat_iterations[strat]++;
		cell->strat_failures[strat]++;
		/* portfolio's bandit sees the hit before the next worker claims
		 * an iteration (the supervisor respawns after the reap). */
		__atomic_fetch_add(&rs->arm_wins[strat], 1, __ATOMIC_SEQ_CST);
	}
	/* One numbering of iterations everywhere: the index a worker claimed
	 * (which, with the run seed, gives the timing seed), counted from 1 in
	 * the summary. With one worker it is also how many iterations ran. */
	uint64_t number = rr__iteration_number(w->iter_index);
	if (!cell->has_failure && outcome != RR_ERROR) {
		cell->has_failure = 1;
		cell->first_failure_iteration = number;
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
		s->first_iteration = number;
		s->first_s = elapsed_s;
		if (run) {
			struct rr__evidence_src src = {w, wk->log_path, wk->core_dir,
						       wk->hang_backtrace};
			rr__evidence_save(run, cfg, &src, s, san);
		}
	}
	if (s)
		s->count++;
	if (s && run && (is_new || s->count <= 20 || (s->count & (s->count - 1)) == 0)) {
		/* The cell's state as a progress line would show it: the passes
		 * of the workers still running included. */
		cell->elapsed_s = elapsed_s;
		cell->iterations += live;
		cell->counts[RR_PASS] += live;
		rr__report_failure(run, cell, s, number,
				   rr__strategy_names[strat], w->iter_seed, is_new);
		cell->iterations -= live;
		cell->counts[RR_PASS] -= live;
	}
}

/* A worker ended: count its passes and classify how it ended. ONCE, when
 * set, receives the ending of a single-iteration run. */
static void reap(struct rr__run *run, const struct rr__run_config *cfg, struct rr__cell *cell,
		 struct rr__run_shm *rs, struct worker *wk, int status, double elapsed_s,
		 int stopping, uint64_t live, struct rr__once *once)
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
	if (once) {
		memset(once, 0, sizeof *once);
		once->outcome = RR_PASS;
		snprintf(once->sig, sizeof once->sig, "pass");
	}
	if (code == RR_WEXIT_SKIP) {
		cell->skipped = 1;
		snprintf(cell->skip_reason, sizeof cell->skip_reason, "%s", w->message);
		if (once) {
			once->outcome = RR_ERROR;
			snprintf(once->sig, sizeof once->sig, "skipped");
			snprintf(once->message, sizeof once->message, "skipped: %s", w->message);
		}
	} else if (code != RR_WEXIT_DONE && (!killed_by_us || once)) {
		char *san = rr__san_logs_read(wk->san_prefix);
		char sig[256], msg[RR_MSG];
		int outcome = rr__classify(status, wk->watchdog, w, san, sig, sizeof sig, msg,
					   sizeof msg);
		take_failure(run, cfg, cell, rs, wk, outcome, sig, msg, san, elapsed_s, live);
		if (once) {
			once->outcome = outcome;
			snprintf(once->sig, sizeof once->sig, "%s", sig);
			snprintf(once->message, sizeof once->message, "%s", msg);
		}
		free(san);
	}
	if (once)
		memcpy(&once->sched, &w->sched, sizeof once->sched);
	clean_after(wk);
}

/* The workers' log folder: <run>/workers, or a private temporary folder
 * for replay, explain and minimize. Either holds a lock for as long as this
 * driver lives (returned through LOCK), so that the next run sweeps it if
 * this one is killed (sweep.c). */
static int make_logdir(struct rr__run *run, char *out, size_t cap, int *lock)
{
	*lock = -1;
	if (run) {
		char abs[PATH_MAX];
		if (!realpath(run->dir, abs))
			return -errno;
		snprintf(out, cap, "%s/workers", abs);
		if (mkdir(out, 0700) < 0 && errno != EEXIST)
			return -errno;
		*lock = rr__hold_dir(out);
		return *lock < 0 ? *lock : 0;
	}
	*lock = rr__private_dir(rr__tmp_base(), out, cap);
	return *lock < 0 ? *lock : 0;
}

static void stop_all(struct rr__run_shm *rs, struct worker *wk, int jobs, int kill_them)
{
	__atomic_store_n(&rs->stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; kill_them && i < jobs; i++)
		if (wk[i].pid > 0)
			kill(-wk[i].pid, SIGKILL);
}

/* The one supervisor loop. ONCE: a single iteration with one worker that is
 * never restarted, whose ending is stored there. */
static int supervise(const struct rr__run_config *cfg, struct rr__run *run, struct rr__cell *cell,
		     struct rr__once *once)
{
	memset(cell, 0, sizeof *cell);
	cell->scenario = cfg->scenario;
	cell->variant = cfg->variant;
	cell->strategy = cfg->strategy;
	cell->seed = cfg->seed;
	cell->params = cfg->params;
	int jobs = cfg->jobs > 0 ? cfg->jobs : 1;
	if (cfg->iterations && (uint64_t)jobs > cfg->iterations)
		jobs = (int)cfg->iterations;
	char logdir[PATH_MAX];
	int lock;
	int rc = make_logdir(run, logdir, sizeof logdir, &lock);
	if (rc < 0) {
		if (once)
			rr__fatal("mkdtemp(%s): %s", logdir, strerror(-rc));
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
		wk[i].shm = map_worker_shm(&wk[i].shm_fd);
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
					/* This worker's passes are counted by reap. */
					uint64_t live = live_passes(wk, jobs) - wk[i].shm->passes;
					reap(run, cfg, cell, rs, &wk[i], st, elapsed, stopping, live,
					     once);
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
			stop_all(rs, wk, jobs, 1);
		}
		if (cfg->duration_ns && now - start >= cfg->duration_ns && !stopping) {
			stopping = 1;
			stop_all(rs, wk, jobs, 0);
		}
		if (cell->skipped || consecutive_errors >= 3 || (run && run->write_failed) ||
		    (cfg->stop_at_first_failure && cell->has_failure)) {
			stopping = 1;
			stop_all(rs, wk, jobs, 1);
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
			/* An exec worker running gdb on its crashed program is not
			 * hung: gdb's own time limit bounds it (forensics.c). */
			if (__atomic_load_n(&x->shm->forensics, __ATOMIC_SEQ_CST))
				continue;
			if ((st == RR_W_ITERATING || st == RR_W_STARTING) && now > since + limit) {
				x->watchdog = 1;
				if (run && !cell->counts[RR_HANG])
					x->hang_backtrace = rr__backtrace_attach(x->pid);
				kill(-x->pid, SIGKILL);
			}
		}
		int budget_left = !cfg->iterations ||
				  __atomic_load_n(&rs->next_iteration, __ATOMIC_SEQ_CST) < cfg->iterations;
		if (once && wk[0].generation)
			budget_left = 0; /* one worker, never restarted */
		if (!stopping && budget_left) {
			for (int i = 0; i < jobs; i++) {
				if (wk[i].pid > 0)
					continue;
				if (spawn_worker(cfg, rs, &wk[i], logdir) < 0) {
					if (once)
						rr__fatal("fork: %s", strerror(errno));
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
		/* A single iteration is waited on closely: replay --check runs
		 * many of them one after another. */
		struct timespec ts = {0, once ? 5000000 : 20000000};
		sigtimedwait(&set, NULL, &ts);
	}
	cell->elapsed_s = (double)(rr__mono_ns() - start) / 1e9;
	for (int i = 0; i < jobs; i++) {
		munmap(wk[i].shm, sizeof *wk[i].shm);
		close(wk[i].shm_fd);
	}
	free(wk);
	munmap(rs, sizeof *rs);
	rr__drop_dir(logdir, lock);
	rmdir(logdir);
	if (run)
		rr__report_progress(run, cell, 1);
	if (cell->counts[RR_ERROR] && cell->iterations == cell->counts[RR_ERROR])
		exit_code = RR_EXIT_ENV;
	return exit_code;
}

int rr__run_cell(const struct rr__run_config *cfg, struct rr__run *run, struct rr__cell *cell)
{
	return supervise(cfg, run, cell, NULL);
}

int rr__run_once(const struct rr__run_config *cfg, struct rr__once *out)
{
	static struct rr__run_config one;
	static struct rr__cell cell;
	one = *cfg;
	one.iterations = 1;
	one.duration_ns = 0;
	one.jobs = 1;
	one.exact_seed = 1;
	one.stop_at_first_failure = 0;
	supervise(&one, NULL, &cell, out);
	return out->outcome;
}

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
	uint64_t start = rr__mono_ns();
	int rc = iterate_loop(cfg, &w, &rs, RR_IN_PROCESS);
	cell->iterations = cell->counts[RR_PASS] = w.passes;
	cell->elapsed_s = (double)(rr__mono_ns() - start) / 1e9;
	rr__engine_remove_segments(&w);
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
