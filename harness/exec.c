/*
 * exec.c: the user's own program as a scenario. `racerepro exec -- PROG ARGS`
 * (and a soak target `exec:PROG ARGS`) runs the pseudo-scenario built here:
 * each iteration forks, execs PROG with the runtime library preloaded
 * (harness/runtime/, libracerepro-rt.so next to the racerepro binary) and the
 * worker's shared memory inherited as a memfd, so that the program's threads
 * become slots of the same scheduler the scenarios use. The worker itself
 * leaves the schedule once the program holds the token and watches it from
 * outside: it classifies how the program ended (its exit status, its last
 * words, a sanitizer log, a signal) and releases the iteration to
 * free-running when the token holder blocks in a call the runtime cannot see.
 *
 * The target's command line, working directory, relevant environment and
 * SHA-256 are the scenario's parameters, so reproducers record them and
 * replay, explain and minimize work on them unchanged.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <openssl/evp.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evidence.h"
#include "fileio.h"
#include "rr_internal.h"

#define MAX_TARGETS 64
#define MAX_ARGS 128
#define STALL_NS 500000000ull /* longer than the scheduler's 200 ms deadlock grace */

/* Environment variables that change what a program does and so belong in a
 * reproducer. The sanitizer options are set by the harness itself. */
static const char *const recorded_env[] = {"LD_LIBRARY_PATH", "PATH", "HOME", "LANG", "LC_ALL",
					   "TZ", NULL};

enum { P_CMD, P_CWD, P_SHA, P_ENV, P_EXPECT, P_FAIL_ON, P_FOLLOW, P_N };

struct target {
	char name[1024];
	char program[24]; /* the worker's role: the program's basename */
	const char *roles[3];
	char defaults[P_N][512];
	struct rr_param params[P_N + 1];
	struct rr_scenario sc;
};
static struct target targets[MAX_TARGETS];
static int ntargets;

/* ---- command lines as one parameter: words split on spaces, "\ " and "\\"
 * escape a space and a backslash ---- */

static void escape_word(const char *w, char *out, size_t cap, size_t *len)
{
	for (; *w && *len + 3 < cap; w++) {
		if (*w == ' ' || *w == '\\')
			out[(*len)++] = '\\';
		out[(*len)++] = *w;
	}
	out[*len] = '\0';
}

void rr__exec_join(char **argv, int argc, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	for (int i = 0; i < argc && len + 2 < cap; i++) {
		if (i)
			out[len++] = ' ';
		escape_word(argv[i], out, cap, &len);
	}
}

/* Splits CMD into ARGV (pointers into BUF); returns the count. */
static int split_words(const char *cmd, char *buf, size_t cap, char **argv, int max)
{
	int n = 0;
	size_t k = 0;
	const char *p = cmd;
	while (*p == ' ')
		p++;
	while (*p && n < max - 1 && k + 1 < cap) {
		argv[n++] = buf + k;
		while (*p && *p != ' ' && k + 1 < cap) {
			if (*p == '\\' && p[1])
				p++;
			buf[k++] = *p++;
		}
		buf[k++] = '\0';
		while (*p == ' ')
			p++;
	}
	argv[n] = NULL;
	return n;
}

/* argv[0] as an absolute path: as given when it has a slash, else found on
 * PATH as execvp would. */
static int resolve_program(const char *prog, char *out, size_t cap)
{
	if (strchr(prog, '/'))
		return realpath(prog, out) && access(out, X_OK) == 0 ? 0 : -1;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char cand[PATH_MAX];
		snprintf(cand, sizeof cand, "%.*s/%s", (int)n, path, prog);
		if (access(cand, X_OK) == 0 && realpath(cand, out))
			return 0;
		path += n + (path[n] == ':');
	}
	(void)cap;
	return -1;
}

int rr__file_sha256(const char *path, char out[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		close(fd);
		return -ENOMEM;
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	int e = n < 0 ? errno : 0;
	close(fd);
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (e)
		return -e;
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* ---- the iteration ---- */

static char runtime_path[PATH_MAX];

static int exec_setup(void **state)
{
	(void)state;
	if (rr__ctx.shm_fd <= 2 || rr__ctx.in_process)
		return rr_env_error(EINVAL, "exec targets run in worker processes: --no-fork is not "
					    "supported (attach gdb to the program instead)");
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return rr_env_error(errno, "readlink(/proc/self/exe): %s", strerror(errno));
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(runtime_path, sizeof runtime_path, "%s/libracerepro-rt.so", self);
	if (access(runtime_path, R_OK) != 0)
		return rr_env_error(ENOENT,
				    "the exec runtime %s is missing: build it with make (it is built "
				    "next to the racerepro binary)",
				    runtime_path);
	return 0;
}

/* NAME=VALUE, appended to whatever the variable already holds, ours last so
 * that they win. */
static void append_env(const char *name, const char *opts)
{
	const char *old = getenv(name);
	char buf[4096];
	snprintf(buf, sizeof buf, "%s%s%s", old && *old ? old : "", old && *old ? ":" : "", opts);
	setenv(name, buf, 1);
}

/* In the forked child: becomes the target. Never returns. */
RR_NORETURN static void become_target(char **argv, const char *cwd, const char *env, int slot,
				      const char *err_path, int follow)
{
	/* The slot names its process before the runtime looks (--follow-exec
	 * claims a slot only for the pid it names). */
	rr__slot_get(slot)->pid = getpid();
	/* The environment recorded in the reproducer, as it was. */
	char envbuf[2048];
	char *words[64];
	int nw = split_words(env, envbuf, sizeof envbuf, words, 64);
	for (int i = 0; i < nw; i++) {
		char *eq = strchr(words[i], '=');
		if (eq) {
			*eq = '\0';
			setenv(words[i], eq + 1, 1);
		}
	}
	int fd = dup(rr__ctx.shm_fd); /* dup() clears close-on-exec */
	int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (err >= 0) {
		dup2(err, 2);
		close(err);
	}
	if (fd < 0) {
		fprintf(stderr, "racerepro: cannot execute %s: dup: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	char v[64];
	snprintf(v, sizeof v, "%d", fd);
	setenv("RR_EXEC_SHM_FD", v, 1);
	snprintf(v, sizeof v, "%d", slot);
	setenv("RR_EXEC_SLOT", v, 1);
	if (follow)
		setenv("RR_EXEC_FOLLOW", "1", 1);
	else
		unsetenv("RR_EXEC_FOLLOW");
	const char *pre = getenv("LD_PRELOAD");
	/* The runtime puts the old value back so that programs the target execs
	 * (ASan's symbolizer, a shell) run without it. */
	setenv("RR_EXEC_SAVED_PRELOAD", pre ? pre : "", 1);
	char preload[PATH_MAX * 2];
	snprintf(preload, sizeof preload, "%s%s%s", runtime_path, pre && *pre ? ":" : "",
		 pre ? pre : "");
	setenv("LD_PRELOAD", preload, 1);
	char san[PATH_MAX + 200];
	snprintf(san, sizeof san,
		 "halt_on_error=1:exitcode=66:verify_asan_link_order=0:handle_abort=0:log_path=%s",
		 rr__ctx.san_prefix ? rr__ctx.san_prefix : "stderr");
	append_env("ASAN_OPTIONS", san);
	append_env("UBSAN_OPTIONS", san);
	snprintf(san, sizeof san, "halt_on_error=1:exitcode=66:report_signal_unsafe=0:log_path=%s",
		 rr__ctx.san_prefix ? rr__ctx.san_prefix : "stderr");
	append_env("TSAN_OPTIONS", san);
	/* Call sites in the trace must mean the same in every run. */
	int pers = personality(0xffffffff);
	if (pers != -1)
		personality((unsigned long)pers | ADDR_NO_RANDOMIZE);
	/* A crash must not leave a core in the user's directory: the runtime
	 * waits in its handler for the worker's gdb instead (crash_backtrace). */
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
	if (cwd[0] && chdir(cwd) < 0) {
		fprintf(stderr, "racerepro: cannot execute %s: chdir(%s): %s\n", argv[0], cwd,
			strerror(errno));
		_exit(127);
	}
	execv(argv[0], argv);
	fprintf(stderr, "racerepro: cannot execute %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* The kernel's view of a blocked thread: its state letter and the system
 * call it sits in. Returns the state letter, 0 if the thread is gone. */
static char thread_state(int pid, int tid, char *why, size_t cap)
{
	char st = rr__proc_state(pid, tid);
	if (!st)
		return 0;
	char path[128], buf[512];
	long nr = -1;
	snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", pid, tid);
	if (rr__read_small(path, buf, sizeof buf) > 0)
		nr = strtol(buf, NULL, 10);
	char wchan[64] = "";
	snprintf(path, sizeof path, "/proc/%d/task/%d/wchan", pid, tid);
	if (rr__read_small(path, wchan, sizeof wchan) < 0)
		wchan[0] = '\0';
	static const struct {
		long nr;
		const char *name;
	} names[] = {{SYS_read, "read"},         {SYS_write, "write"},
		     {SYS_futex, "futex"},       {SYS_flock, "flock"},
		     {SYS_poll, "poll"},         {SYS_ppoll, "ppoll"},
		     {SYS_select, "select"},     {SYS_pselect6, "pselect6"},
		     {SYS_epoll_wait, "epoll_wait"}, {SYS_nanosleep, "nanosleep"},
		     {SYS_clock_nanosleep, "clock_nanosleep"}, {SYS_wait4, "wait4"},
		     {SYS_accept, "accept"},     {SYS_accept4, "accept4"},
		     {SYS_recvfrom, "recvfrom"}, {SYS_connect, "connect"},
		     {SYS_fcntl, "fcntl"},       {SYS_msgrcv, "msgrcv"},
		     {SYS_semop, "semop"},       {SYS_pause, "pause"}};
	const char *name = NULL;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].nr == nr)
			name = names[i].name;
	if (name)
		snprintf(why, cap, "%s (syscall %ld%s%s)", name, nr, wchan[0] && strcmp(wchan, "0") ? ", in " : "",
			 wchan[0] && strcmp(wchan, "0") ? wchan : "");
	else if (nr >= 0)
		snprintf(why, cap, "syscall %ld%s%s", nr, wchan[0] && strcmp(wchan, "0") ? " in " : "",
			 wchan[0] && strcmp(wchan, "0") ? wchan : "");
	else
		snprintf(why, cap, "an uninterposed call");
	return st;
}

/* ---- crashes: gdb's backtraces of the program, taken while it waits in
 * the runtime's fatal-signal handler (runtime/rt.c, on_crash) ---- */

#define CRASH_BT "exec-backtrace.txt" /* in the worker's own folder, its cwd */

/* The raw frames the runtime printed (racerepro-rt: #N prog+0x...), for a
 * backtrace.txt without gdb. */
static void raw_frames(const char *err_path, char *out, size_t cap)
{
	size_t len = 0;
	out[0] = '\0';
	FILE *f = fopen(err_path, "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof line, f) && len + strlen(line) + 1 < cap)
		if (!strncmp(line, "racerepro-rt: ", 14))
			len += (size_t)snprintf(out + len, cap - len, "%s", line);
	fclose(f);
}

static void crash_backtrace(pid_t pid, int sig, const char *err_path)
{
	struct rr__worker_shm *w = rr__ctx.shm;
	__atomic_store_n(&w->forensics, 1, __ATOMIC_SEQ_CST);
	char *bt = rr__backtrace_attach(pid);
	__atomic_store_n(&w->forensics, 0, __ATOMIC_SEQ_CST);
	const char *name = sigabbrev_np(sig);
	size_t cap = (bt ? strlen(bt) : 0) + 8192;
	char *text = malloc(cap);
	if (text) {
		int n = snprintf(text, cap,
				 "gdb's backtraces of pid %d, stopped in the racerepro runtime's "
				 "handler for SIG%s (the frames below <signal handler called> are "
				 "the crash):\n",
				 (int)pid, name ? name : "?");
		if (bt) {
			snprintf(text + n, cap - (size_t)n, "%s", bt);
		} else {
			n = snprintf(text, cap,
				     "no gdb backtrace: gdb was not found or could not attach to pid "
				     "%d (scripts/install-deps.sh tools installs gdb); the runtime's raw "
				     "frames (addr2line -e PROGRAM OFFSET names them):\n",
				     (int)pid);
			raw_frames(err_path, text + n, cap - (size_t)n);
		}
		int rc = rr__write_text(CRASH_BT, text);
		if (rc < 0)
			fprintf(stderr, "racerepro: writing %s: %s\n", CRASH_BT, strerror(-rc));
		free(text);
	}
	free(bt);
	/* Let the program die of its signal. */
	__atomic_store_n(&w->crash_ack, (uint32_t)pid, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &w->crash_ack, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

char *rr__exec_backtrace_take(const char *dir)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", dir, CRASH_BT);
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	size_t n;
	while (out && (n = fread(out + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			char *bigger = cap < (1u << 24) ? realloc(out, cap * 2) : NULL;
			if (!bigger)
				break;
			out = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	unlink(path);
	if (out)
		out[len] = '\0';
	return out;
}

/* ---- --follow-exec: the program's own child processes ---- */

/* Kills every process of the iteration but PID's own (the program, which
 * the caller waits for) and the worker. */
static void kill_program_processes(struct rr__sched *s, int pid)
{
	int n = __atomic_load_n(&s->nslots, __ATOMIC_SEQ_CST);
	for (int i = 1; i < n && i < RR_MAX_THREADS; i++) {
		int p = s->slots[i].pid;
		if (p > 0 && p != pid && p != getpid())
			kill(p, SIGKILL);
	}
}

/* Called while the program runs. A finding in any of its processes (a
 * deadlock seen from a child, say) ends the iteration: the other processes
 * go, as the worker's process group would. A process that held the token and
 * died without saying so (a signal, an exec'd image without the runtime, a
 * static binary) leaves the schedule in its stead, so that a parent parked in
 * wait gets it. Returns 1 when it acted. */
static int follow_watch(int pid, struct rr__sched *s)
{
	if (__atomic_load_n(&rr__ctx.shm->finding, __ATOMIC_SEQ_CST)) {
		kill_program_processes(s, 0);
		return 0;
	}
	if (!__atomic_load_n(&s->controlled, __ATOMIC_SEQ_CST))
		return 0;
	uint32_t tok = __atomic_load_n(&s->token, __ATOMIC_SEQ_CST);
	int n = __atomic_load_n(&s->nslots, __ATOMIC_SEQ_CST);
	if (tok >= (uint32_t)n || s->slots[tok].state == RR_SLOT_EXITED)
		return 0;
	int p = s->slots[tok].pid, tid = s->slots[tok].tid;
	if (p <= 0 || p == pid || tid <= 0)
		return 0;
	char st = rr__proc_state(p, tid);
	if (st && st != 'Z')
		return 0;
	rr__sched_set_self((int)tok);
	rr__trace_note("exit", "%s (pid %d) ended without the runtime", s->slots[tok].role, p);
	rr__sched_process_exit(p);
	return 1;
}

/* After the program ended: its leftover processes go, and whatever any of
 * them found (a deadlock in a child) is the iteration's finding, whatever
 * the exit status of the program. Returns the status to classify. */
static int follow_cleanup(int pid, struct rr__sched *s, int st)
{
	kill_program_processes(s, pid);
	uint64_t until = rr__mono_ns() + 2000000000ull;
	while (rr__mono_ns() < until) {
		if (waitpid(-1, NULL, WNOHANG) > 0)
			continue;
		/* No child to reap now; a killed process may still be on its way
		 * to becoming one (reparented here when its parent dies). */
		int alive = 0, n = __atomic_load_n(&s->nslots, __ATOMIC_SEQ_CST);
		for (int i = 1; i < n && i < RR_MAX_THREADS; i++)
			alive |= s->slots[i].pid > 0 && s->slots[i].pid != getpid() &&
				  kill(s->slots[i].pid, 0) == 0 &&
				  rr__proc_state(s->slots[i].pid, s->slots[i].pid) != 'Z';
		if (!alive)
			break;
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	int finding = __atomic_load_n(&rr__ctx.shm->finding, __ATOMIC_SEQ_CST);
	int code = finding == RR_HANG ? RR_WEXIT_HANG : finding == RR_BUG ? RR_WEXIT_BUG : 0;
	if (code && !(WIFEXITED(st) && WEXITSTATUS(st) == code))
		return code << 8; /* as if the program had exited with it */
	return st;
}

/* Waits for the target, releasing the iteration to free-running when the
 * token holder sits blocked in the kernel with no step taken for STALL_NS. */
static int wait_target(int pid, struct rr__sched *s, const char *err_path, int follow)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	uint64_t last = UINT64_MAX, since = rr__mono_ns();
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return pidfd >= 0 ? (close(pidfd), st) : st;
		if (r < 0 && errno != EINTR)
			rr__fatal("waitpid(%d): %s", pid, strerror(errno));
		if (pidfd >= 0) {
			struct pollfd p = {.fd = pidfd, .events = POLLIN};
			poll(&p, 1, 20);
		} else {
			struct timespec ts = {0, 5000000};
			nanosleep(&ts, NULL);
		}
		int32_t crashed = __atomic_load_n(&rr__ctx.shm->crash_pid, __ATOMIC_SEQ_CST);
		if (crashed > 0 && __atomic_load_n(&rr__ctx.shm->crash_ack, __ATOMIC_SEQ_CST) !=
					   (uint32_t)crashed) {
			crash_backtrace(crashed, rr__ctx.shm->crash_sig, err_path);
			since = rr__mono_ns(); /* gdb's time is no stall of the program */
			continue;
		}
		if (follow && follow_watch(pid, s))
			continue;
		if (!__atomic_load_n(&s->controlled, __ATOMIC_SEQ_CST))
			continue;
		uint64_t progress = __atomic_load_n(&s->steps, __ATOMIC_RELAXED) +
				    __atomic_load_n(&s->nevents, __ATOMIC_RELAXED);
		uint64_t now = rr__mono_ns();
		if (progress != last) {
			last = progress;
			since = now;
			continue;
		}
		if (now - since < STALL_NS)
			continue;
		uint32_t tok = __atomic_load_n(&s->token, __ATOMIC_SEQ_CST);
		int n = __atomic_load_n(&s->nslots, __ATOMIC_SEQ_CST);
		if (tok >= (uint32_t)n || s->slots[tok].state == RR_SLOT_EXITED ||
		    s->slots[tok].tid <= 0)
			continue;
		char call[96], why[RR_DETAIL];
		char ts = thread_state(s->slots[tok].pid, s->slots[tok].tid, call, sizeof call);
		if (ts != 'S' && ts != 'D')
			continue; /* computing, not blocked: the watchdog's business */
		snprintf(why, sizeof why, "%s blocked in %s", s->slots[tok].role, call);
		rr__sched_release(s, why);
	}
}

/* The target's stderr: appended to the worker's log (so failures/ keeps
 * it); returns its last meaningful line in LAST. */
static void last_words(const char *err_path, char *last, size_t cap, const char *fail_on,
		       int *matched)
{
	last[0] = '\0';
	*matched = 0;
	FILE *f = fopen(err_path, "r");
	if (!f)
		return;
	regex_t re;
	int have_re = fail_on && *fail_on && regcomp(&re, fail_on, REG_EXTENDED | REG_NOSUB) == 0;
	char line[1024], runtime_last[600] = "";
	while (fgets(line, sizeof line, f)) {
		fputs(line, stderr);
		line[strcspn(line, "\n")] = '\0';
		if (have_re && !*matched && regexec(&re, line, 0, NULL, 0) == 0) {
			*matched = 1;
			snprintf(last, cap, "%s", line);
		}
		const char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		/* The runtime's lines about a crash (the signal, the frames) are
		 * not the program's last words: an assertion's message is. */
		if (*p && !*matched && !strncmp(p, "racerepro-rt: ", 14)) {
			if (strncmp(p, "racerepro-rt: #", 15))
				snprintf(runtime_last, sizeof runtime_last, "%s", p);
		} else if (*p && !*matched) {
			snprintf(last, cap, "%s", p);
		}
	}
	fclose(f);
	if (!last[0])
		snprintf(last, cap, "%s", runtime_last);
	if (have_re)
		regfree(&re);
}

static int exec_iterate(void *state)
{
	(void)state;
	char buf[4096];
	char *argv[MAX_ARGS];
	int argc = split_words(rr_param_str("cmd"), buf, sizeof buf, argv, MAX_ARGS);
	if (argc == 0)
		return rr_env_error(EINVAL, "exec: empty command line");
	const char *cwd = rr_param_str("cwd");
	const char *env = rr_param_str("env");
	long long expect = rr_param_int("expect_exit");
	const char *fail_on = rr_param_str("fail_on");
	int follow = (int)rr_param_int("follow_exec");
	char here[PATH_MAX], err_path[PATH_MAX + 16];
	if (!getcwd(here, sizeof here))
		return rr_env_error(errno, "getcwd: %s", strerror(errno));
	snprintf(err_path, sizeof err_path, "%s/target.err", here);

	struct rr__sched *s = &rr__ctx.shm->sched;
	rr__ctx.shm->exit_role[0] = '\0';
	unlink(CRASH_BT); /* a backtrace is this iteration's or none */
	/* Without a report to keep them in (replay, minimize), no backtraces:
	 * a crash_pid that is not 0 tells the runtime not to wait for gdb. */
	rr__ctx.shm->crash_pid = rr__ctx.cfg && rr__ctx.cfg->forensics ? 0 : -1;
	rr__ctx.shm->crash_ack = 0;
	rr__ctx.shm->exec_threads = 0;
	rr__ctx.shm->exec_procs = 0;
	int slot = rr__slot_add("main", 0);
	/* --follow-exec: what the program's processes leave behind becomes the
	 * worker's child when they end, so that follow_cleanup can reap it. */
	if (follow && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return rr_env_error(errno, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		rr__slot_get(slot)->state = RR_SLOT_EXITED;
		return rr_env_error(e, "fork: %s", strerror(e));
	}
	if (pid == 0)
		become_target(argv, cwd, env, slot, err_path, follow);
	rr__slot_get(slot)->pid = pid;
	rr__trace_note("start", "started %s (pid %d)", argv[0], (int)pid);
	/* The worker leaves the schedule: the program's main thread takes the
	 * token when its runtime starts, and the worker only watches. */
	rr__sched_leave();
	int st = wait_target(pid, s, err_path, follow);
	rr__sched_set_self(0);
	if (follow)
		st = follow_cleanup(pid, s, st);
	/* The program's slots stay as they were until the verdict is clear: a
	 * crash is reported with where each thread was. */

	char last[600];
	int matched = 0;
	last_words(err_path, last, sizeof last, fail_on, &matched);
	unlink(err_path);
	if (s->released) {
		static uint64_t released_count;
		released_count++;
		rr_env_note("nondeterministic", "%s; %llu iteration(s) released to free-running (not replayable), last #%llu",
			    s->released_why, (unsigned long long)released_count,
			    (unsigned long long)rr__ctx.shm->iter_index);
	}
	/* A finding names the program's thread that ended it when the runtime
	 * saw which (exit, main returning, an assertion, abort), else the
	 * program (the worker's role); a --fail-on line, whoever printed it,
	 * names the program. */
	static char ended_by[sizeof rr__ctx.shm->exit_role];
	memcpy(ended_by, rr__ctx.shm->exit_role, sizeof ended_by);
	ended_by[sizeof ended_by - 1] = '\0';
	rr__ctx.finding_role = ended_by[0] && !matched ? ended_by : NULL;
	if (WIFEXITED(st)) {
		int code = WEXITSTATUS(st);
		if (code == RR_WEXIT_HANG)
			rr__exec_symbolize(NULL, rr__ctx.shm->message, sizeof rr__ctx.shm->message);
		if (code >= RR_WEXIT_BUG && code <= RR_WEXIT_SKIP)
			rr__propagate_child(st); /* the runtime or a sanitizer ended it */
		rr__sched_reap_pid(pid);
		if (code == 127 && !strncmp(last, "racerepro: cannot execute", 25))
			return rr_env_error(ENOEXEC, "%s", last + 11);
		if (code == 127 && strstr(last, "error while loading shared libraries"))
			return rr_env_error(ENOEXEC, "%s", last);
		if (matched)
			rr_bug("output matched --fail-on: %s", last);
		if (code != expect)
			rr_bug("exit status %d: %s", code, last[0] ? last : "(no output)");
		return 0;
	}
	int sig = WTERMSIG(st);
	if (sig == SIGABRT && strstr(last, "Assertion"))
		rr_bug("%s", strstr(last, "Assertion"));
	if (matched)
		rr_bug("output matched --fail-on: %s", last);
	/* A signal: the worker dies of the same one, with no core of its own. */
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
	snprintf(rr__ctx.shm->message, sizeof rr__ctx.shm->message, "%s", last);
	rr__propagate_child(st);
}

/* ---- the pseudo-scenario ---- */

const struct rr_scenario *rr__exec_scenario(const char *name)
{
	for (int i = 0; i < ntargets; i++)
		if (!strcmp(targets[i].name, name))
			return &targets[i].sc;
	if (ntargets == MAX_TARGETS || strlen(name) >= sizeof targets[0].name)
		return NULL;
	struct target *t = &targets[ntargets++];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	/* argv[0] becomes absolute (what replay needs); the rest as given. */
	char buf[4096], *argv[MAX_ARGS], abs[PATH_MAX];
	int argc = split_words(name + 5, buf, sizeof buf, argv, MAX_ARGS);
	char sha[65] = "";
	if (argc > 0 && resolve_program(argv[0], abs, sizeof abs) == 0) {
		argv[0] = abs;
		rr__file_sha256(abs, sha);
	}
	rr__exec_join(argv, argc, t->defaults[P_CMD], sizeof t->defaults[P_CMD]);
	if (!getcwd(t->defaults[P_CWD], sizeof t->defaults[P_CWD]))
		t->defaults[P_CWD][0] = '\0';
	snprintf(t->defaults[P_SHA], sizeof t->defaults[P_SHA], "%s", sha);
	size_t len = 0;
	for (int i = 0; recorded_env[i]; i++) {
		const char *v = getenv(recorded_env[i]);
		if (!v)
			continue;
		char kv[600];
		snprintf(kv, sizeof kv, "%s=%s", recorded_env[i], v);
		if (len + strlen(kv) * 2 + 2 >= sizeof t->defaults[P_ENV])
			break;
		if (len)
			t->defaults[P_ENV][len++] = ' ';
		escape_word(kv, t->defaults[P_ENV], sizeof t->defaults[P_ENV], &len);
	}
	snprintf(t->defaults[P_EXPECT], sizeof t->defaults[P_EXPECT], "0");
	snprintf(t->defaults[P_FOLLOW], sizeof t->defaults[P_FOLLOW], "0");
	static const char *const pnames[P_N] = {"cmd", "cwd", "sha256", "env", "expect_exit",
						"fail_on", "follow_exec"};
	static const char *const phelp[P_N] = {
		"the command line (absolute program path, words split on spaces, '\\ ' escapes)",
		"the working directory",
		"the program's SHA-256 when the run started (replay refuses another binary)",
		"environment variables that matter, NAME=VALUE words",
		"the exit status of a passing run",
		"an extended regex: a stderr line matching it is a bug, whatever the exit status",
		"1: what the program forks and execs stays under the runtime (--follow-exec)"};
	for (int i = 0; i < P_N; i++) {
		t->params[i].name = pnames[i];
		t->params[i].def = t->defaults[i];
		t->params[i].help = phelp[i];
	}
	t->sc.name = t->name;
	t->sc.upstream = "your own program";
	t->sc.summary = "an unmodified pthread program run under the preloaded runtime";
	t->sc.symptom = "a non-zero exit, a signal, a sanitizer report or a deadlock";
	/* The worker's slot (it starts the program and reports what became of
	 * it) is named after the program, the program's main thread "main". */
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	snprintf(t->program, sizeof t->program, "%s", base ? base + 1 : argc > 0 ? argv[0] : "exec");
	t->roles[0] = t->program;
	t->roles[1] = "main";
	t->roles[2] = NULL;
	t->sc.roles = t->roles;
	t->sc.variants = rr_variants_buggy_fixed;
	t->sc.params = t->params;
	t->sc.setup = exec_setup;
	t->sc.iterate = exec_iterate;
	return &t->sc;
}

/* ---- call sites: "prog+0x1a2b" as file:line ---- */

#define MAX_SITES 512

struct sites {
	int n;
	unsigned long off[MAX_SITES];
	char where[MAX_SITES][64];
};

static void collect_sites(const char *text, const char *base, struct sites *st)
{
	size_t bl = strlen(base);
	for (const char *p = text; (p = strstr(p, base)); p += bl) {
		if (strncmp(p + bl, "+0x", 3) || (p > text && p[-1] != ' ' && p[-1] != '('))
			continue;
		unsigned long off = strtoul(p + bl + 3, NULL, 16);
		int k;
		for (k = 0; k < st->n && st->off[k] != off; k++)
			;
		if (k == st->n && st->n < MAX_SITES)
			st->off[st->n++] = off;
	}
}

static void replace_sites(char *text, size_t cap, const char *base, const struct sites *st)
{
	size_t bl = strlen(base);
	char out[1024];
	size_t o = 0;
	const char *p = text;
	while (*p && o + 1 < sizeof out) {
		if (!strncmp(p, base, bl) && !strncmp(p + bl, "+0x", 3) &&
		    (p == text || p[-1] == ' ' || p[-1] == '(')) {
			char *end;
			unsigned long off = strtoul(p + bl + 3, &end, 16);
			for (int k = 0; k < st->n; k++) {
				if (st->off[k] == off && st->where[k][0]) {
					o += (size_t)snprintf(out + o, sizeof out - o, "%s", st->where[k]);
					p = end;
					break;
				}
			}
			if (p != end)
				out[o++] = *p++;
			continue;
		}
		out[o++] = *p++;
	}
	out[o < sizeof out ? o : sizeof out - 1] = '\0';
	snprintf(text, cap, "%s", out);
}

/* One addr2line run for every offset. */
static void resolve_sites(const char *binary, struct sites *st)
{
	int fds[2];
	if (!st->n || pipe(fds) < 0)
		return;
	char *argv[MAX_SITES + 8];
	static char addrs[MAX_SITES][24];
	int k = 0;
	argv[k++] = "addr2line";
	argv[k++] = "-s";
	argv[k++] = "-e";
	argv[k++] = (char *)binary;
	for (int i = 0; i < st->n; i++) {
		snprintf(addrs[i], sizeof addrs[i], "0x%lx", st->off[i]);
		argv[k++] = addrs[i];
	}
	argv[k] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		execvp("addr2line", argv);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		return;
	}
	FILE *f = fdopen(fds[0], "r");
	char line[256];
	for (int i = 0; f && i < st->n && fgets(line, sizeof line, f); i++) {
		line[strcspn(line, " \n")] = '\0';
		if (line[0] != '?' && strchr(line, ':') && !strstr(line, ":?") && !strstr(line, ":0"))
			snprintf(st->where[i], sizeof st->where[i], "%s", line);
	}
	if (f)
		fclose(f);
	else
		close(fds[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The sites of one binary (BINARY, named BASE in the sites) as file:line. */
static void symbolize_binary(struct rr__sched *s, char *msg, size_t msgcap, const char *binary)
{
	const char *slash = strrchr(binary, '/');
	char base[64];
	snprintf(base, sizeof base, "%s", slash ? slash + 1 : binary);
	static struct sites st;
	memset(&st, 0, sizeof st);
	uint32_t nev = s ? (s->nevents < RR_MAX_EVENTS ? s->nevents : RR_MAX_EVENTS) : 0;
	for (uint32_t i = 0; i < nev; i++)
		collect_sites(s->events[i].detail, base, &st);
	for (int i = 0; s && i < s->nslots && i < RR_MAX_THREADS; i++)
		collect_sites(s->slots[i].waiting_on, base, &st);
	if (msg)
		collect_sites(msg, base, &st);
	if (!st.n)
		return;
	resolve_sites(binary, &st);
	for (uint32_t i = 0; i < nev; i++)
		replace_sites(s->events[i].detail, sizeof s->events[i].detail, base, &st);
	for (int i = 0; s && i < s->nslots && i < RR_MAX_THREADS; i++)
		replace_sites(s->slots[i].waiting_on, sizeof s->slots[i].waiting_on, base, &st);
	if (msg)
		replace_sites(msg, msgcap, base, &st);
}

void rr__exec_symbolize(struct rr__sched *s, char *msg, size_t msgcap)
{
	const struct rr__run_config *cfg = rr__ctx.cfg;
	if (!cfg || !cfg->scenario || strncmp(cfg->scenario->name, "exec:", 5))
		return;
	char buf[4096], *argv[MAX_ARGS];
	if (split_words(rr_param_str("cmd"), buf, sizeof buf, argv, MAX_ARGS) < 1)
		return;
	symbolize_binary(s, msg, msgcap, argv[0]);
	/* --follow-exec: the images the program exec'd, from the trace's
	 * "p1 execs PATH" notes (a relative PATH from the working directory). */
	const struct rr__sched *t = s ? s : rr__ctx.shm ? &rr__ctx.shm->sched : NULL;
	uint32_t nev = t ? (t->nevents < RR_MAX_EVENTS ? t->nevents : RR_MAX_EVENTS) : 0;
	char done[8][PATH_MAX];
	int ndone = 0;
	for (uint32_t i = 0; i < nev && ndone < 8; i++) {
		const char *p = strstr(t->events[i].detail, " execs ");
		if (!p || t->events[i].kind != RR_EV_NOTE)
			continue;
		char path[PATH_MAX];
		const char *cwd = rr_param_str("cwd");
		snprintf(path, sizeof path, "%s%s%s", p[7] == '/' ? "" : cwd, p[7] == '/' ? "" : "/",
			 p + 7);
		int seen = !strcmp(path, argv[0]);
		for (int k = 0; k < ndone && !seen; k++)
			seen = !strcmp(done[k], path);
		if (seen || access(path, R_OK) != 0)
			continue;
		snprintf(done[ndone++], sizeof done[0], "%s", path);
		symbolize_binary(s, msg, msgcap, path);
	}
}
