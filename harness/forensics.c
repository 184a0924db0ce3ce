/*
 * forensics.c: backtraces of every thread of a worker that crashed (from its
 * core file) or hung (by attaching to it before the watchdog kills it), with
 * gdb in batch mode. The driver stores them as failures/<sig>/backtrace.txt.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evidence.h"

/* Runs ARGV with stdout and stderr captured, for at most TIMEOUT_S seconds.
 * Returns the output (malloc'd) or NULL if it could not run. */
static char *run_capture(char *const argv[], int timeout_s)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return NULL;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	uint64_t deadline = rr__mono_ns() + (uint64_t)timeout_s * 1000000000ull;
	int status = 0, done = 0;
	while (out) {
		ssize_t n = read(pipefd[0], out + len, cap - len - 1);
		if (n > 0) {
			len += (size_t)n;
			if (len + 1 >= cap) {
				char *bigger = cap < (1u << 24) ? realloc(out, cap * 2) : NULL;
				if (!bigger)
					break;
				out = bigger;
				cap *= 2;
			}
			continue;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (!done && waitpid(pid, &status, WNOHANG) == pid)
			done = 1;
		if (rr__mono_ns() > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	close(pipefd[0]);
	if (!done)
		waitpid(pid, &status, 0);
	if (!out)
		return NULL;
	out[len] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		free(out);
		return NULL;
	}
	return out;
}

static char *gdb(const char *what, char **target)
{
	char *argv[16];
	int n = 0;
	argv[n++] = "gdb";
	argv[n++] = "-batch";
	argv[n++] = "-nx";
	argv[n++] = "-ex";
	argv[n++] = "set pagination off";
	argv[n++] = "-ex";
	argv[n++] = "thread apply all bt";
	for (int i = 0; target[i]; i++)
		argv[n++] = target[i];
	argv[n] = NULL;
	char *out = run_capture(argv, 60);
	if (!out) {
		fprintf(stderr, "racerepro: %s: gdb not found; no backtrace collected "
				"(scripts/install-deps.sh tools installs it)\n",
			what);
	}
	return out;
}

char *rr__backtrace_core(const char *core_path)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0 || access(core_path, R_OK) != 0)
		return NULL;
	exe[n] = '\0';
	char *target[] = {exe, (char *)core_path, NULL};
	return gdb("crash", target);
}

char *rr__backtrace_attach(pid_t pid)
{
	char pidbuf[32];
	snprintf(pidbuf, sizeof pidbuf, "%d", (int)pid);
	char *target[] = {"-p", pidbuf, NULL};
	return gdb("hang", target);
}
