/*
 * test_ftok_collision.c: the ftok_collision scenario end to end.
 *
 * - buggy ends in `bug` naming both writers' tags, under free-running and
 *   controlled strategies (it fails on every iteration: see the scenario's
 *   opening comment for why that is the honest model);
 * - fixed runs hundreds of iterations clean under none and portfolio (noise,
 *   random and pct in turn);
 * - no System V segment is left behind, after either variant and after a
 *   worker killed with SIGKILL while its segments exist;
 * - the stored reproducers replay deterministically (replay --check 20).
 *
 * Leftovers are found by key, not by counting every segment on the machine
 * (other tests may run in parallel): each test runs the scenario with its
 * own proj_id, whose low 8 bits are the top byte of every key the scenario
 * uses (proj_id .. proj_id+7 with the fixed variant's probes), so only
 * segments of this test's runs can match.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#define PROBES 8 /* the scenario's MAX_PROBES */

#define SHARE_MSG "writer-b (tag 'B') and writer-c (tag 'C') share one System V segment"

struct seg {
	int key, shmid, cpid;
};

/* Segments whose key's top byte is in [PROJ, PROJ + PROBES), made by us. */
static int our_segments(int proj, struct seg *out, int cap)
{
	FILE *f = fopen("/proc/sysvipc/shm", "r");
	assert_non_null(f);
	char line[512];
	int n = 0;
	if (!fgets(line, sizeof line, f)) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof line, f)) {
		int key, shmid, cpid, lpid;
		unsigned perms, uid, gid, cuid, cgid;
		unsigned long long size, nattch;
		if (sscanf(line, "%d %d %o %llu %d %d %llu %u %u %u %u", &key, &shmid, &perms, &size,
			   &cpid, &lpid, &nattch, &uid, &gid, &cuid, &cgid) != 11)
			continue;
		unsigned top = ((unsigned)key >> 24) & 0xff;
		if (cuid != geteuid() || top < (unsigned)proj || top >= (unsigned)proj + PROBES)
			continue;
		if (out && n < cap)
			out[n] = (struct seg){key, shmid, cpid};
		n++;
	}
	fclose(f);
	return n;
}

static void assert_no_leftovers(int proj)
{
	struct seg s[4];
	int n = our_segments(proj, s, 4);
	if (n)
		fail_msg("%d segment(s) left behind, e.g. key 0x%08x shmid %d", n, (unsigned)s[0].key,
			 s[0].shmid);
}

/* Runs `run ftok_collision` and returns its summary cell (caller decrefs
 * the summary through *SUMMARY). */
static json_t *run_cell(const char *build, const char *variant, const char *strategy,
			int iterations, int proj, int want_status, json_t **summary)
{
	const char *dir = rrt_tmpdir();
	struct rrt_result r;
	rrt_run(&r,
		"%s run ftok_collision --variant %s --strategy %s --seed 11 --iterations %d "
		"--param proj_id=%d --out %s/out",
		rrt_bin(build), variant, strategy, iterations, proj, dir);
	if (r.status != want_status)
		fail_msg("%s/%s: status %d, want %d\nstdout:\n%s\nstderr:\n%s", variant, strategy,
			 r.status, want_status, r.out, r.err);
	rrt_free(&r);
	char path[600];
	snprintf(path, sizeof path, "%s/out/summary.json", dir);
	*summary = rrt_load_json(path);
	return rrt_cell(*summary, "ftok_collision", variant);
}

static void check_buggy(const char *strategy, int iterations, int proj)
{
	json_t *summary;
	json_t *cell = run_cell("none", "buggy", strategy, iterations, proj, 1, &summary);
	/* Every iteration in which both writers ran shares the segment. */
	assert_int_equal(rrt_outcome(cell, "bug"), iterations);
	assert_int_equal(rrt_outcome(cell, "pass"), 0);
	assert_int_equal(rrt_outcome(cell, "error"), 0);
	json_t *sigs = json_object_get(cell, "signatures");
	assert_true(json_is_array(sigs));
	/* One documented failure, one signature, whatever the interleaving. */
	assert_int_equal(json_array_size(sigs), 1);
	const char *msg = json_string_value(json_object_get(json_array_get(sigs, 0), "message"));
	assert_non_null(msg);
	if (!strstr(msg, SHARE_MSG) || !strstr(msg, "nattch 3 where 2 expected"))
		fail_msg("unexpected finding: %s", msg);
	json_decref(summary);
	assert_no_leftovers(proj);
}

static void test_buggy_none(void **state)
{
	(void)state;
	check_buggy("none", 2, 0xa1);
}

static void test_buggy_random(void **state)
{
	(void)state;
	check_buggy("random", 1, 0xa9);
}

static void test_buggy_pct(void **state)
{
	(void)state;
	check_buggy("pct", 1, 0xb1);
}

static void check_fixed(const char *build, const char *strategy, int iterations, int proj)
{
	json_t *summary;
	json_t *cell = run_cell(build, "fixed", strategy, iterations, proj, 0, &summary);
	assert_int_equal(rrt_outcome(cell, "pass"), iterations);
	assert_int_equal(rrt_outcome(cell, "bug"), 0);
	assert_int_equal(rrt_outcome(cell, "error"), 0);
	json_decref(summary);
	assert_no_leftovers(proj);
}

static void test_fixed_none(void **state)
{
	(void)state;
	check_fixed("none", "none", 400, 0xb9);
}

/* portfolio rotates noise, random and pct over the iterations: one worker
 * start covers all three. */
static void test_fixed_portfolio(void **state)
{
	(void)state;
	check_fixed("none", "portfolio", 600, 0xc1);
}

/* The fixed variant is clean under TSan too (its processes share memory
 * TSan cannot see across, and each process on its own is race-free). */
static void test_fixed_tsan(void **state)
{
	(void)state;
	check_fixed("tsan", "random", 200, 0xc9);
}

/* A worker killed with SIGKILL while its writers hold segments: the driver
 * removes what the worker tracked. The worker's process group is stopped
 * first, so that the segments seen are the ones the kill leaves behind. */
static void test_killed_worker_leaves_nothing(void **state)
{
	(void)state;
	const int proj = 0xd1;
	const char *dir = rrt_tmpdir();
	char out[600];
	snprintf(out, sizeof out, "%s/out", dir);
	pid_t driver = fork();
	assert_true(driver >= 0);
	if (driver == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 1);
		dup2(devnull, 2);
		char projarg[32];
		snprintf(projarg, sizeof projarg, "proj_id=%d", proj);
		execl(rrt_bin("none"), "racerepro", "run", "ftok_collision", "--variant", "fixed",
		      "--strategy", "none", "--duration", "60s", "--param", projarg, "--out", out,
		      (char *)NULL);
		_exit(127);
	}
	struct seg seen[8];
	int nseen = 0;
	pid_t group = -1;
	/* Bounded so that a broken driver fails the test instead of hanging it;
	 * nothing here depends on how fast the machine is. */
	for (int tries = 0; tries < 200000 && nseen == 0; tries++) {
		struct seg s[8];
		int n = our_segments(proj, s, 8);
		if (n == 0) {
			int st;
			if (waitpid(driver, &st, WNOHANG) == driver)
				fail_msg("the driver ended early (status 0x%x)", st);
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
			continue;
		}
		group = getpgid(s[0].cpid);
		if (group <= 0 || group == getpgrp() || group == getpgid(driver))
			continue; /* gone already, or not a worker's own group */
		if (kill(-group, SIGSTOP) < 0)
			continue;
		/* Stopped: nothing in the group can remove a segment now. */
		n = our_segments(proj, s, 8);
		for (int i = 0; i < n && i < 8; i++)
			if (getpgid(s[i].cpid) == group)
				seen[nseen++] = s[i];
		if (nseen == 0)
			kill(-group, SIGCONT);
	}
	if (nseen == 0) {
		kill(driver, SIGKILL);
		waitpid(driver, NULL, 0);
		fail_msg("never saw a segment of the scenario");
	}
	assert_int_equal(kill(-group, SIGKILL), 0);
	kill(-group, SIGCONT);
	/* Once the driver has reaped the worker (it is gone, not a zombie) it
	 * has cleaned up after it, or is doing so before it reads the SIGINT. */
	for (int tries = 0; tries < 200000 && !(kill(group, 0) < 0 && errno == ESRCH); tries++) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	kill(driver, SIGINT);
	int st;
	assert_int_equal(waitpid(driver, &st, 0), driver);
	for (int i = 0; i < nseen; i++) {
		struct shmid_ds ds;
		if (shmctl(seen[i].shmid, IPC_STAT, &ds) == 0)
			fail_msg("shmid %d (key 0x%08x) survived the killed worker", seen[i].shmid,
				 (unsigned)seen[i].key);
		assert_true(errno == EINVAL || errno == EIDRM);
	}
	assert_no_leftovers(proj);
	char path[700];
	snprintf(path, sizeof path, "%s/summary.json", out);
	json_t *summary = rrt_load_json(path);
	json_t *cell = rrt_cell(summary, "ftok_collision", "fixed");
	/* The kill is a crash (or, if the watchdog saw the stop first, a hang);
	 * never a `bug` of the fixed variant. */
	assert_int_equal(rrt_outcome(cell, "bug"), 0);
	assert_true(rrt_outcome(cell, "crash") + rrt_outcome(cell, "hang") >= 1);
	json_decref(summary);
}

/* The directory of the stored reproducers: the tests run from the top of
 * the tree (make test). */
static const char *repro_dir(void)
{
	return "corpus/ftok_collision/repro";
}

static void test_replay_stored_reproducers(void **state)
{
	(void)state;
	DIR *d = opendir(repro_dir());
	if (!d)
		fail_msg("%s: %s (run from the top of the tree)", repro_dir(), strerror(errno));
	struct dirent *e;
	int replayed = 0;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 6, ".repro"))
			continue;
		struct rrt_result r;
		/* Each check costs a worker start (about 0.7 s to find the
		 * colliding pair), so the serial schedule gets the 20 checks
		 * and the others a few. */
		int checks = strstr(e->d_name, "minimal") ? 20 : 2;
		rrt_run(&r, "%s replay %s/%s --check %d", rrt_bin("none"), repro_dir(), e->d_name,
			checks);
		char want[64];
		snprintf(want, sizeof want, "%d of %d runs identical", checks, checks);
		if (r.status != 0 || !strstr(r.out, want) || !strstr(r.out, SHARE_MSG) ||
		    !strstr(r.out, "the recorded failure showed again"))
			fail_msg("replay %s --check %d: status %d\n%s%s", e->d_name, checks,
				 r.status, r.out, r.err);
		rrt_free(&r);
		replayed++;
	}
	closedir(d);
	assert_true(replayed >= 1);
}

static void test_list_shows_scenario(void **state)
{
	(void)state;
	struct rrt_result r;
	rrt_run(&r, "%s list", rrt_bin("none"));
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "ftok_collision"));
	assert_non_null(strstr(r.out, "reader-a writer-b writer-c"));
	assert_non_null(strstr(r.out, "proj_id"));
	rrt_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_shows_scenario),
		cmocka_unit_test(test_buggy_none),
		cmocka_unit_test(test_buggy_random),
		cmocka_unit_test(test_buggy_pct),
		cmocka_unit_test(test_fixed_none),
		cmocka_unit_test(test_fixed_portfolio),
		cmocka_unit_test(test_fixed_tsan),
		cmocka_unit_test(test_killed_worker_leaves_nothing),
		cmocka_unit_test(test_replay_stored_reproducers),
	};
	RRT_MAIN(tests);
}
