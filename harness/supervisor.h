/*
 * supervisor.h: running cells in worker processes (supervisor.c): the
 * workers, the watchdog, budgets, signals and the cleanup after each worker.
 */
#ifndef RR_SUPERVISOR_H
#define RR_SUPERVISOR_H

#include "run.h"

/* Runs CFG's budget for one cell; RUN may be NULL (no report files). */
int rr__run_cell(const struct rr__run_config *cfg, struct rr__run *run, struct rr__cell *cell);
/* Runs exactly one iteration with CFG (exact seed), in a worker process. */
int rr__run_once(const struct rr__run_config *cfg, struct rr__once *out);
/* --no-fork: CFG's iterations in this process, for gdb; a finding aborts. */
int rr__run_in_process(const struct rr__run_config *cfg, struct rr__cell *cell);
/* Installs SIGINT/SIGTERM handlers; nonzero once one arrived. */
void rr__driver_signals(void);
int rr__driver_interrupted(void);

#endif
