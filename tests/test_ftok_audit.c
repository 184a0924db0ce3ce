/*
 * test_ftok_audit.c: `racerepro ftok-audit` end to end, on real files.
 *
 * The colliding pair is made the way the ftok_collision scenario makes it:
 * empty files in a private directory (on tmpfs when /dev/shm is writable,
 * where inode numbers are sequential) until two inode numbers agree in the
 * low 16 bits. Every key the command prints is checked against the real
 * ftok() of the C library the test runs on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

static char dir[512];
static char pair[2][600];    /* colliding */
static char plain[2][600];   /* two files that do not collide */

static void remove_tree(const char *d)
{
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", d);
}

/* Makes the files once for the whole group. */
static int make_files(void)
{
	if (access("/dev/shm", W_OK) == 0) {
		snprintf(dir, sizeof dir, "/dev/shm/rrt-ftok-audit-XXXXXX");
		if (!mkdtemp(dir))
			return -1;
	} else {
		snprintf(dir, sizeof dir, "%s", rrt_tmpdir());
	}
	int *slot = malloc(65536 * sizeof *slot);
	if (!slot)
		return -1;
	memset(slot, 0xff, 65536 * sizeof *slot);
	int a = -1, b = -1;
	char name[600];
	for (int n = 0; n <= 65536 && a < 0; n++) {
		snprintf(name, sizeof name, "%s/f%05x", dir, n);
		int fd = open(name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0)
			return -1;
		close(fd);
		unsigned low = (unsigned)(st.st_ino & 0xffff);
		if (slot[low] >= 0) {
			a = slot[low];
			b = n;
		} else {
			slot[low] = n;
		}
	}
	free(slot);
	if (a < 0)
		return -1;
	snprintf(pair[0], sizeof pair[0], "%s/f%05x", dir, a);
	snprintf(pair[1], sizeof pair[1], "%s/f%05x", dir, b);
	/* Two files with different low 16 bits: the first and one beside it
	 * that does not share pair[0]'s slot. */
	struct stat s0, s1;
	snprintf(plain[0], sizeof plain[0], "%s/f%05x", dir, a == 0 ? 1 : 0);
	snprintf(plain[1], sizeof plain[1], "%s/f%05x", dir, a == 2 || a == 0 ? 3 : 2);
	/* (the same choice is made again below, when the rest is deleted) */
	if (stat(plain[0], &s0) < 0 || stat(plain[1], &s1) < 0 ||
	    (s0.st_ino & 0xffff) == (s1.st_ino & 0xffff))
		return -1;
	/* Keep only what the tests use: 65,537 files are a lot of tmpfs. */
	int keep0 = a == 0 ? 1 : 0, keep1 = a == 2 || a == 0 ? 3 : 2;
	for (int n = 0; n <= b; n++) {
		if (n == a || n == b || n == keep0 || n == keep1)
			continue;
		snprintf(name, sizeof name, "%s/f%05x", dir, n);
		if (unlink(name) < 0)
			return -1;
	}
	return 0;
}

static void remove_files(void)
{
	if (dir[0] && strncmp(dir, "/dev/shm/", 9) == 0)
		remove_tree(dir);
}

static unsigned long long ino_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (unsigned long long)st.st_ino;
}

/* The key the command printed for PATH ("PATH: key 0x........"). */
static unsigned printed_key(const char *out, const char *path)
{
	char needle[700];
	snprintf(needle, sizeof needle, "%s: key 0x", path);
	const char *p = strstr(out, needle);
	if (!p)
		fail_msg("no key printed for %s in:\n%s", path, out);
	return (unsigned)strtoul(p + strlen(needle), NULL, 16);
}

static void test_collision_names_both_inodes(void **state)
{
	(void)state;
	struct rrt_result r;
	rrt_run(&r, "%s ftok-audit --proj A '%s' '%s'", rrt_bin("none"), pair[0], pair[1]);
	if (r.status != 1)
		fail_msg("status %d, stdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
	key_t k = ftok(pair[0], 'A');
	assert_true(k != (key_t)-1);
	assert_int_equal(k, ftok(pair[1], 'A'));
	char want[64];
	snprintf(want, sizeof want, "collision: key 0x%08x", (unsigned)k);
	assert_non_null(strstr(r.out, want));
	for (int i = 0; i < 2; i++) {
		unsigned long long ino = ino_of(pair[i]);
		char hex[64], dec[64];
		snprintf(hex, sizeof hex, "inode 0x%llx = %llu", ino, ino);
		snprintf(dec, sizeof dec, "%llu", ino);
		if (!strstr(r.out, hex))
			fail_msg("'%s' not in:\n%s", hex, r.out);
		assert_non_null(strstr(r.out, dec));
		assert_non_null(strstr(r.out, pair[i]));
	}
	rrt_free(&r);
}

static void test_no_collision_exits_0(void **state)
{
	(void)state;
	struct rrt_result r;
	rrt_run(&r, "%s ftok-audit --proj 7 '%s' '%s'", rrt_bin("none"), plain[0], plain[1]);
	if (r.status != 0)
		fail_msg("status %d, stdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
	assert_null(strstr(r.out, "collision:"));
	assert_non_null(strstr(r.out, "0 colliding pair(s)"));
	rrt_free(&r);
}

/* The formula the command uses is the one the real ftok() uses: check every
 * key it prints, for several files and project ids (including ids that agree
 * only in their low 8 bits). */
static void test_keys_match_real_ftok(void **state)
{
	(void)state;
	const char *files[] = {pair[0], pair[1], plain[0], plain[1], "/etc/passwd", "/", dir};
	const int projs[] = {1, 'A', 0x7f, 0xff, 257, 0x1234};
	for (size_t p = 0; p < sizeof projs / sizeof projs[0]; p++) {
		for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
			struct rrt_result r;
			rrt_run(&r, "%s ftok-audit --proj %d '%s'", rrt_bin("none"), projs[p],
				files[f]);
			assert_int_equal(r.status, 0);
			key_t real = ftok(files[f], projs[p]);
			assert_true(real != (key_t)-1);
			assert_int_equal(printed_key(r.out, files[f]), (unsigned)real);
			rrt_free(&r);
		}
	}
}

static void test_missing_path_exits_2(void **state)
{
	(void)state;
	struct rrt_result r;
	char missing[700];
	snprintf(missing, sizeof missing, "%s/no-such-key-file", dir);
	rrt_run(&r, "%s ftok-audit '%s' '%s' '%s'", rrt_bin("none"), pair[0], missing, pair[1]);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, missing));
	assert_non_null(strstr(r.err, "No such file or directory"));
	/* One line, and no half-done report on stdout. */
	assert_non_null(strchr(r.err, '\n'));
	assert_null(strchr(strchr(r.err, '\n') + 1, '\n'));
	assert_null(strstr(r.out, "collision"));
	rrt_free(&r);
}

static void test_bad_options_exit_2(void **state)
{
	(void)state;
	struct rrt_result r;
	const char *bad[] = {"--bogus", "--proj", "--proj ''", "--proj -3", "--nattch x", "--list"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		rrt_run(&r, "%s ftok-audit %s '%s'", rrt_bin("none"), bad[i], pair[0]);
		if (r.status != 2)
			fail_msg("ftok-audit %s: status %d", bad[i], r.status);
		assert_int_equal(strlen(r.err) > 0, 1);
		assert_null(strchr(strchr(r.err, '\n') + 1, '\n'));
		rrt_free(&r);
	}
	rrt_run(&r, "%s ftok-audit", rrt_bin("none"));
	assert_int_equal(r.status, 2);
	rrt_free(&r);
	rrt_run(&r, "%s ftok-audit --list /nonexistent/list", rrt_bin("none"));
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "/nonexistent/list"));
	rrt_free(&r);
	rrt_run(&r, "%s ftok-audit --help", rrt_bin("none"));
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "usage: racerepro ftok-audit"));
	rrt_free(&r);
}

/* --list with the optional per-line project id: the colliding pair with
 * different ids is fine; with ids that agree in the low 8 bits it is not. */
static void test_list_with_proj(void **state)
{
	(void)state;
	char list[700];
	snprintf(list, sizeof list, "%s/keys.list", dir);
	FILE *f = fopen(list, "w");
	assert_non_null(f);
	fprintf(f, "# key files of programs B and C\n\n%s 1\n%s 2\n", pair[0], pair[1]);
	fclose(f);
	struct rrt_result r;
	rrt_run(&r, "%s ftok-audit --list '%s'", rrt_bin("none"), list);
	if (r.status != 0)
		fail_msg("status %d:\n%s%s", r.status, r.out, r.err);
	rrt_free(&r);

	f = fopen(list, "w");
	assert_non_null(f);
	fprintf(f, "%s 1\n%s 257\n", pair[0], pair[1]);
	fclose(f);
	rrt_run(&r, "%s ftok-audit --list '%s'", rrt_bin("none"), list);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.out, "collision: key 0x01"));
	rrt_free(&r);
	unlink(list);

	/* One file under project ids that agree in their low 8 bits. */
	rrt_run(&r, "%s ftok-audit --proj 1 '%s' --proj 257 '%s'", rrt_bin("none"), plain[0],
		plain[0]);
	assert_int_equal(r.status, 1);
	rrt_free(&r);
	rrt_run(&r, "%s ftok-audit --proj 1 '%s' '%s'", rrt_bin("none"), plain[0], plain[0]);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "same file"));
	rrt_free(&r);
}

/* --live: a segment made under the colliding key is listed as wrong. */
static void test_live_segment(void **state)
{
	(void)state;
	key_t k = ftok(pair[0], 0x5d);
	assert_true(k != (key_t)-1);
	int id = shmget(k, 4096, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0)
		fail_msg("shmget(0x%08x): %s", (unsigned)k, strerror(errno));
	void *p = shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	struct rrt_result r;
	rrt_run(&r, "%s ftok-audit --live --nattch 2 --proj 0x5d '%s' '%s'", rrt_bin("none"),
		pair[0], pair[1]);
	shmdt(p);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(r.status, 1);
	char want[128];
	snprintf(want, sizeof want, "live: key 0x%08x shmid %d", (unsigned)k, id);
	if (!strstr(r.out, want))
		fail_msg("'%s' not in:\n%s", want, r.out);
	assert_non_null(strstr(r.out, "WRONG: key shared by 2 key files"));
	assert_non_null(strstr(r.out, "WRONG: nattch 1 where 2 expected"));
	rrt_free(&r);

	/* No segment under a non-colliding key: nothing live is wrong. */
	rrt_run(&r, "%s ftok-audit --live --proj 0x5e '%s'", rrt_bin("none"), plain[0]);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "live: 0 segment(s)"));
	rrt_free(&r);

	/* A stale segment: made by a process that is gone, nothing attached. */
	k = ftok(plain[0], 0x5e);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(shmget(k, 4096, IPC_CREAT | IPC_EXCL | 0600) < 0 ? 1 : 0);
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	id = shmget(k, 0, 0600);
	assert_true(id >= 0);
	rrt_run(&r, "%s ftok-audit --live --proj 0x5e '%s'", rrt_bin("none"), plain[0]);
	assert_int_equal(shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(r.status, 1);
	if (!strstr(r.out, "WRONG: stale"))
		fail_msg("no stale segment reported:\n%s", r.out);
	rrt_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collision_names_both_inodes),
		cmocka_unit_test(test_no_collision_exits_0),
		cmocka_unit_test(test_keys_match_real_ftok),
		cmocka_unit_test(test_missing_path_exits_2),
		cmocka_unit_test(test_bad_options_exit_2),
		cmocka_unit_test(test_list_with_proj),
		cmocka_unit_test(test_live_segment),
	};
	if (make_files() != 0) {
		fprintf(stderr, "test_ftok_audit: could not make the key files in %s: %s\n", dir,
			strerror(errno));
		return 1;
	}
	atexit(remove_files);
	RRT_MAIN(tests);
}
