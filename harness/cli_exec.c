/*
 * cli_exec.c: `racerepro exec [run options] -- PROGRAM [ARGS...]` and
 * `racerepro cc|c++ [compiler args...]`. exec is `run` on the pseudo-scenario
 * "exec:PROGRAM ARGS" (exec.c), so every run option, the reports and the
 * reproducers are run's own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rr_internal.h"

static const char *const exec_help =
	"usage: racerepro exec [RUN OPTIONS] [--expect-exit N] [--fail-on REGEX] [--follow-exec]\n"
	"                      -- PROGRAM [ARGS...]\n"
	"\n"
	"Runs PROGRAM (an unmodified pthread program) once per iteration with the\n"
	"racerepro runtime preloaded: its threads become scheduler slots and its\n"
	"pthread, sleep and pipe/socket calls scheduling points. Build it with\n"
	"'racerepro cc' for a point at every load and store as well.\n"
	"\n"
	"  --expect-exit N   the exit status of a passing run (default 0)\n"
	"  --fail-on REGEX   a stderr line matching REGEX is a bug even on a clean exit\n"
	"  --follow-exec     keep the runtime in what PROGRAM forks and execs (a wrapper\n"
	"                    script, sh -c, a test runner): each process gets slots of\n"
	"                    its own and a wait for a child is a scheduling point\n"
	"  RUN OPTIONS       as for 'racerepro run --help' (default strategy: pct)\n"
	"\n"
	"Findings: bug (exit status, assert, --fail-on), crash (a signal), sanitizer,\n"
	"hang:deadlock (every thread parked), hang:watchdog. An iteration whose token\n"
	"holder blocked in a call the runtime cannot see is released to free-running\n"
	"and reported as nondeterministic in the summary's notes.\n";

int rr__cmd_exec(int argc, char **argv, int (*run)(int, char **))
{
	int dash = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dash = i;
			break;
		}
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(exec_help, stdout);
			return 0;
		}
	}
	if (dash < 0 || dash + 1 >= argc) {
		fprintf(stderr, "racerepro exec: no program: put it after '--', e.g. racerepro exec "
				"--iterations 100 -- ./a.out\n");
		return RR_EXIT_USAGE;
	}
	const char *prog = argv[dash + 1];
	if (strchr(prog, '/') ? access(prog, X_OK) != 0 : 0) {
		fprintf(stderr, "racerepro exec: cannot run %s: %s (give the program's path)\n", prog,
			strerror(errno));
		return RR_EXIT_USAGE;
	}
	static char name[4096];
	strcpy(name, "exec:");
	rr__exec_join(argv + dash + 1, argc - dash - 1, name + 5, sizeof name - 5);
	if (!rr__exec_scenario(name) || !strchr(rr__exec_scenario(name)->params[0].def, '/')) {
		fprintf(stderr, "racerepro exec: %s: not found (give its path or put it on PATH)\n",
			prog);
		return RR_EXIT_USAGE;
	}
	/* run's argv: the options, the sugar turned into --param, the target. */
	char **nargv = calloc((size_t)argc + 8, sizeof *nargv);
	static char pbuf[2][600];
	if (!nargv)
		return RR_EXIT_ENV;
	int n = 0, have_strategy = 0;
	nargv[n++] = "racerepro"; /* run reads argv[-1] for the recorded command line */
	nargv[n++] = "exec";
	for (int i = 1; i < dash; i++) {
		if ((!strcmp(argv[i], "--expect-exit") || !strcmp(argv[i], "--fail-on"))) {
			if (i + 1 >= dash) {
				fprintf(stderr, "racerepro exec: %s needs a value\n", argv[i]);
				free(nargv);
				return RR_EXIT_USAGE;
			}
			int k = argv[i][2] == 'e' ? 0 : 1;
			snprintf(pbuf[k], sizeof pbuf[k], "%s=%s", k ? "fail_on" : "expect_exit",
				 argv[i + 1]);
			nargv[n++] = "--param";
			nargv[n++] = pbuf[k];
			i++;
			continue;
		}
		if (!strcmp(argv[i], "--follow-exec")) {
			nargv[n++] = "--param";
			nargv[n++] = "follow_exec=1";
			continue;
		}
		if (!strcmp(argv[i], "--strategy"))
			have_strategy = 1;
		nargv[n++] = argv[i];
	}
	if (!have_strategy) {
		nargv[n++] = "--strategy";
		nargv[n++] = "pct";
	}
	nargv[n++] = name;
	int rc = run(n - 1, nargv + 1);
	free(nargv);
	return rc;
}

int rr__exec_check_repro(const struct rr__run_config *cfg, char *err, size_t cap)
{
	if (strncmp(cfg->scenario->name, "exec:", 5))
		return 0;
	const char *cmd = rr__params_get(&cfg->params, "cmd");
	const char *sha = rr__params_get(&cfg->params, "sha256");
	if (!cmd || !sha || !*sha)
		return 0;
	char prog[PATH_MAX];
	size_t k = 0;
	for (const char *p = cmd; *p && *p != ' ' && k + 1 < sizeof prog; p++) {
		if (*p == '\\' && p[1])
			p++;
		prog[k++] = *p;
	}
	prog[k] = '\0';
	char now[65];
	int rc = rr__file_sha256(prog, now);
	if (rc < 0) {
		snprintf(err, cap, "the program %s is gone (%s): rebuild it as it was", prog,
			 strerror(-rc));
		return -1;
	}
	if (strcmp(now, sha)) {
		snprintf(err, cap,
			 "the program %s changed since the reproducer was saved (sha256 %.12s..., "
			 "now %.12s...): replay needs the same binary",
			 prog, sha, now);
		return -1;
	}
	return 0;
}

/* ---- racerepro cc ---- */

int rr__cmd_cc(int argc, char **argv, int cxx)
{
	char dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	if (n <= 0) {
		perror("racerepro cc: /proc/self/exe");
		return RR_EXIT_ENV;
	}
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	const char *compiler = getenv(cxx ? "RR_CXX" : "RR_CC");
	if (!compiler || !*compiler)
		compiler = cxx ? "clang++" : "clang";
	const char *base = strrchr(compiler, '/') ? strrchr(compiler, '/') + 1 : compiler;
	int gcc = !strncmp(base, "gcc", 3) || !strncmp(base, "g++", 3) || strstr(base, "-gcc") ||
		  strstr(base, "-g++");
	int link = 1;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "-S") || !strcmp(argv[i], "-E") ||
		    !strcmp(argv[i], "-M") || !strcmp(argv[i], "-MM"))
			link = 0;
	static char cov[PATH_MAX + 16], libdir[PATH_MAX + 16], rpath[PATH_MAX + 32];
	snprintf(cov, sizeof cov, "%s/rr-cov.o", dir);
	snprintf(libdir, sizeof libdir, "-L%s", dir);
	snprintf(rpath, sizeof rpath, "-Wl,-rpath,%s", dir);
	char **nargv = calloc((size_t)argc + 16, sizeof *nargv);
	if (!nargv)
		return RR_EXIT_ENV;
	int k = 0;
	nargv[k++] = (char *)compiler;
	if (gcc)
		fprintf(stderr, "racerepro cc: %s has no load/store hooks: scheduling points at "
				"pthread and I/O calls only (use clang for memory-level points)\n",
			compiler);
	else
		nargv[k++] = "-fsanitize-coverage=func,trace-pc-guard,trace-loads,trace-stores";
	for (int i = 1; i < argc; i++)
		nargv[k++] = argv[i];
	if (link) {
		/* -rdynamic: the runtime names locks and start routines by symbol. */
		nargv[k++] = "-rdynamic";
		nargv[k++] = "-pthread";
		/* free is a point (rr-cov.o's __wrap_free), also where a
		 * sanitizer's free in the executable hides the runtime's. */
		nargv[k++] = "-Wl,--wrap=free";
		if (cxx)
			nargv[k++] = "-Wl,--wrap=_ZdlPv,--wrap=_ZdaPv,--wrap=_ZdlPvm,--wrap=_ZdaPvm";
		nargv[k++] = cov;
		nargv[k++] = libdir;
		nargv[k++] = rpath;
		nargv[k++] = "-lracerepro-rt";
	}
	nargv[k] = NULL;
	fflush(NULL);
	execvp(compiler, nargv);
	fprintf(stderr, "racerepro cc: cannot run %s: %s (install clang, or set RR_CC)\n", compiler,
		strerror(errno));
	free(nargv);
	return RR_EXIT_ENV;
}
