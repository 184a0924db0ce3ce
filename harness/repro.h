/*
 * repro.h: the reproducer file (its syntax, repro.c) and its mapping to and
 * from a run configuration. A reproducer names a scenario, a variant, a
 * concrete strategy with its seed and schedule, the build that found it, the
 * failure's signature and every parameter value of the run.
 */
#ifndef RR_REPRO_H
#define RR_REPRO_H

#include "rr_internal.h"

struct rr__repro {
	char scenario[64];
	char variant[32];
	char strategy[16];
	uint64_t seed;
	uint32_t pct_depth;
	uint32_t pct_steps;
	uint8_t schedule[RR_MAX_SCHEDULE];
	uint32_t nschedule;
	char build[16];
	char signature[256];
	char found_by[16];
	char surw_expect[512]; /* surw: "ROLE=N ROLE=N" the iteration used, or "" */
	/* input with an abstract schedule (version 2): its base sampler ("" for
	 * version-1 decision bytes in schedule[]) and overrides, by role name. */
	char base[16];
	int noverrides;
	struct rr__repro_override {
		char role[24];
		uint32_t k;
		char target[24];
	} overrides[RR_MAX_OVERRIDES];
	/* Holds (version 3): ROLE does not pass its K-th race point until
	 * UNTIL_ROLE has passed its UNTIL_K-th. */
	int nholds;
	struct rr__repro_hold {
		char role[24];
		uint32_t k;
		char until_role[24];
		uint32_t until_k;
	} holds[RR_MAX_HOLDS];
	struct rr__params params;
	int param_lines[RR_MAX_PARAMS]; /* the line of each param, for errors */
};

/* Writes R to PATH atomically. Returns 0 or -errno. */
int rr__repro_write(const char *path, const struct rr__repro *r);
/* Returns 0, or -1 after writing a one-line error naming the line to ERR. */
int rr__repro_read(const char *path, struct rr__repro *r, char *err, size_t errlen);
int rr__repro_parse(const char *text, size_t len, struct rr__repro *r, char *err, size_t errlen);
/* Opens PATH for reading if it is a regular file (a FIFO would block, a
 * directory is not a file): the fd, or -1 after a one-line reason in ERR. */
int rr__open_regular(const char *path, char *err, size_t errlen);

/* The reproducer of an iteration that ran under CFG with the scheduler state
 * S and timing seed SEED and ended in SIG: every parameter the scenario
 * declares, with its value in CFG or its default. */
void rr__repro_from_run(const struct rr__run_config *cfg, const struct rr__sched *s,
			uint64_t seed, const char *sig, struct rr__repro *r);

/* The run configuration that replays R: one iteration at a time with R's
 * exact seed. CFG points into R (the input schedule). Returns 0, or -1 with a
 * one-line reason in ERR (unknown scenario, variant or parameter). */
int rr__repro_to_config(struct rr__repro *r, struct rr__run_config *cfg, char *err,
			size_t errlen);

/* schedule.c: an abstract schedule from a version-2 reproducer's lines (role
 * names resolved in ROLES; -1 and ERR when one is not there), and back from
 * the iteration S ran (base, seed, parameters, overrides). */
int rr__schedule_from_repro(const struct rr__repro *r, const char *const *roles,
			    struct rr__abstract *a, char *err, size_t cap);
void rr__schedule_to_repro(const struct rr__sched *s, const char *const *roles,
			   struct rr__repro *r);

#endif
