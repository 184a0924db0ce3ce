/*
 * affinity.c: roles on CPUs of their own under free-running strategies
 * (rr_pin_role, racerepro.h).
 *
 * Some upstream races happen between threads that each own a core: SPDK's
 * reactors are pinned, an IOCP worker waits for completions on a core the
 * closing thread is not spinning on. Left to the kernel, a thread woken onto
 * the CPU where another role busy-works runs only when that role is
 * preempted, which turns a rare window into a common one: cancel_uaf failed
 * within a median of 3 plain iterations for exactly that reason. Each role
 * therefore gets a fixed CPU out of the worker's own affinity mask.
 *
 * The mask is read once per process, by the first caller, before anything
 * here narrowed a thread's affinity (threads inherit their creator's mask,
 * so a later read could see one CPU). The thread that ran iterate() gets that
 * mask back in rr__affinity_iteration_end, called by rr__sched_end, so the
 * next iteration's threads are born with the worker's full mask and nothing
 * after the scenario (the driver, an in-process bench or fuzz loop) runs
 * pinned.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "rr_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

static pthread_mutex_t mask_lock = PTHREAD_MUTEX_INITIALIZER;
static int mask_read;           /* under mask_lock */
static cpu_set_t worker_mask;   /* the worker's CPUs, once mask_read */
static int worker_cpus[CPU_SETSIZE];
static int nworker_cpus;
static uint64_t noted_roles;    /* under mask_lock: roles whose CPU the reports show */

static _Thread_local int pinned; /* this thread's affinity was narrowed */

/* Reads the process's mask on first use. Returns 0 or -errno. */
static int read_worker_mask(void)
{
	int rc = pthread_mutex_lock(&mask_lock);
	if (rc != 0)
		return rr_env_error(rc, "pthread_mutex_lock(affinity): %s", strerror(rc));
	if (!mask_read) {
		CPU_ZERO(&worker_mask);
		if (sched_getaffinity(0, sizeof worker_mask, &worker_mask) < 0) {
			int err = errno;
			pthread_mutex_unlock(&mask_lock);
			return rr_env_error(err, "sched_getaffinity: %s", strerror(err));
		}
		nworker_cpus = 0;
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &worker_mask))
				worker_cpus[nworker_cpus++] = c;
		mask_read = 1;
	}
	rc = pthread_mutex_unlock(&mask_lock);
	if (rc != 0)
		return rr_env_error(rc, "pthread_mutex_unlock(affinity): %s", strerror(rc));
	return 0;
}

static int role_index(const char *role)
{
	const struct rr_scenario *sc = rr__ctx.cfg ? rr__ctx.cfg->scenario : NULL;
	if (!sc || !role)
		return -1;
	for (int i = 0; sc->roles[i]; i++)
		if (!strcmp(sc->roles[i], role))
			return i;
	return -1;
}

/* Once per role and worker, one note for all roles: the reports (summary.json
 * cells[].env.cpus, and the run's output) show where each role ran, so that a
 * measurement says whether its roles were placed. The lock also keeps two
 * roles from updating the note at once. */
static void note_placement(int idx, const char *role, int cpu)
{
	static char placed[120];

	if (idx >= 64 || pthread_mutex_lock(&mask_lock) != 0)
		return;
	if (!(noted_roles & (UINT64_C(1) << idx))) {
		size_t n = strlen(placed);
		noted_roles |= UINT64_C(1) << idx;
		snprintf(placed + n, sizeof placed - n, "%s%s %d", n ? ", " : "", role, cpu);
		rr_env_note("cpus", "%s (rr_pin_role, of %d CPUs)", placed, nworker_cpus);
	}
	pthread_mutex_unlock(&mask_lock);
}

int rr_pin_role(const char *role)
{
	/* One thread runs at a time: where it runs cannot change the order. */
	if (rr_controlled())
		return 0;
	int idx = role_index(role);
	if (idx < 0)
		return rr_env_error(EINVAL, "rr_pin_role(%s): not one of the scenario's roles",
				    role ? role : "NULL");
	int rc = read_worker_mask();
	if (rc)
		return rc;
	if (nworker_cpus < 2)
		return 0;
	int cpu = worker_cpus[idx % nworker_cpus];
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	/* sched_setaffinity(0) is the calling thread, not the process. */
	if (sched_setaffinity(0, sizeof one, &one) < 0)
		return rr_env_error(errno, "sched_setaffinity(%s -> cpu %d): %s", role, cpu,
				    strerror(errno));
	pinned = 1;
	note_placement(idx, role, cpu);
	return 0;
}

void rr__affinity_iteration_end(void)
{
	if (!pinned)
		return;
	pinned = 0;
	/* Widening to a mask this process had cannot fail unless the CPUs went
	 * away; then every later placement would be wrong too. */
	if (sched_setaffinity(0, sizeof worker_mask, &worker_mask) < 0)
		rr__fatal("sched_setaffinity(restore the worker's CPUs): %s", strerror(errno));
}
