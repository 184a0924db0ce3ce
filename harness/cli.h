/*
 * cli.h: the racerepro command line (cli.c), called by main.c.
 */
#ifndef RR_CLI_H
#define RR_CLI_H

/* Runs `racerepro ARGV[1] ...`; returns the process exit code. */
int rr__cli_main(int argc, char **argv);

/* cli_exec.c: the exec-mode commands. */
struct rr__run_config;
/* `racerepro exec [run options] -- PROGRAM ...`: RUN is cli.c's `run`, which
 * the translated arguments go to. Returns the exit code. */
int rr__cmd_exec(int argc, char **argv, int (*run)(int, char **));
/* `racerepro cc`/`c++` (CXX): the compiler driver. Returns its exit code. */
int rr__cmd_cc(int argc, char **argv, int cxx);
/* A reproducer of an exec target: 0 when its binary is the one recorded, -1
 * with ERR (CAP bytes) naming the change. Other scenarios: 0. */
int rr__exec_check_repro(const struct rr__run_config *cfg, char *err, size_t cap);

#endif
