/*
 * evidence.h: what a failure leaves in its failures/<variant>-<slug>/ folder
 * (evidence.c: reproducer, trace, message, logs, core; forensics.c: gdb
 * backtraces), and the oracle that names the failure (oracle.c).
 */
#ifndef RR_EVIDENCE_H
#define RR_EVIDENCE_H

#include <sys/types.h>

#include "run.h"

/* Where a dead worker's traces are. */
struct rr__evidence_src {
	const struct rr__worker_shm *shm;
	const char *log_path;       /* its stdout and stderr */
	const char *core_dir;       /* its working directory, where a core lands */
	const char *hang_backtrace; /* gdb's view taken before a hang kill, or NULL */
};

/* Fills S->dir and writes the failure's folder under RUN->dir: reproducer,
 * trace, message, sanitizer log (SAN_LOG may be NULL), stderr, backtrace and
 * (with CFG->keep_cores) the core. Sets RUN->write_failed when the reproducer
 * cannot be written. */
void rr__evidence_save(struct rr__run *run, const struct rr__run_config *cfg,
		       const struct rr__evidence_src *src, struct rr__signature *s,
		       const char *san_log);

/* Every sanitizer log the processes of a worker wrote (PREFIX.<pid>), as one
 * malloc'd text, or NULL; and their removal. */
char *rr__san_logs_read(const char *prefix);
void rr__san_logs_remove(const char *prefix);

/* forensics.c: gdb backtraces of every thread (malloc'd text, or NULL). */
char *rr__backtrace_core(const char *core_path);
char *rr__backtrace_attach(pid_t pid);
/* exec.c: the backtraces the worker in DIR took of its crashed program
 * (malloc'd text, or NULL when the iteration left none). */
char *rr__exec_backtrace_take(const char *dir);

/* oracle.c: how a worker ended, as an outcome with a signature and message. */
int rr__classify(int wstatus, int watchdog, const struct rr__worker_shm *w, const char *san_log,
		 char *sig, size_t sigcap, char *msg, size_t msgcap);
void rr__slug(const char *sig, char *out, size_t cap);

#endif
