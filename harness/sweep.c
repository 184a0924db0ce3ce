/*
 * sweep.c: private folders that can be proved stale, and the sweep that
 * removes what a killed run left behind.
 *
 * A run killed with SIGKILL runs no cleanup: its scratch folders (15,000 and
 * more key files for ftok_collision), the driver's temporary log folder,
 * <out>/<run>/workers/ and the System V segments its writers created stay.
 * The next run removes them, but only what it can prove is ours and dead:
 *
 *  - Every folder the harness makes for itself holds a lock file,
 *    RR__LOCK_NAME, on which its creator keeps an flock(LOCK_EX) for as long
 *    as it lives (the lock belongs to the open file, so forked children hold
 *    it too). The lock file is made and locked under another name and only
 *    then renamed into place, so a lock file that can be seen is a held one
 *    until every process of its owner has died. A folder without one (being
 *    made right now, or made by an older racerepro) is never touched.
 *  - flock works across PID namespaces on a shared filesystem, where "is pid
 *    N alive?" answers for the wrong namespace; the pid in a scratch folder's
 *    name is checked as well, never instead.
 *  - A segment is removed only if the dead folder's registry names it with
 *    the creator pid and creation time that shmctl(IPC_STAT) still reports,
 *    it belongs to our uid, and its creator is dead: a reused shmid has
 *    another creator or another ctime.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "rr_internal.h"

#define RR__LOCK_NAME ".racerepro-lock"
#define RR__SEGMENTS_NAME ".racerepro-segments"
/* One fixed-width record per tracked slot: "shmid cpid ctime", padded. */
#define RR__SEG_RECORD 48

const char *rr__scratch_base(void)
{
	const char *base = getenv("RR_SCRATCH_BASE");
	if (base && *base)
		return base;
	if (access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	base = getenv("TMPDIR");
	return base && *base ? base : "/tmp";
}

const char *rr__tmp_base(void)
{
	const char *base = getenv("RR_SCRATCH_BASE");
	if (base && *base)
		return base;
	base = getenv("TMPDIR");
	return base && *base ? base : "/tmp";
}

int rr__hold_dir(const char *dir)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s/.racerepro-lock-%d", dir, (int)getpid());
	snprintf(path, sizeof path, "%s/" RR__LOCK_NAME, dir);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		close(fd);
		return -e;
	}
	return fd;
}

int rr__private_dir(const char *base, char *out, size_t cap)
{
	snprintf(out, cap, "%s/racerepro-%d-XXXXXX", base, (int)getpid());
	if (!mkdtemp(out))
		return -errno;
	int fd = rr__hold_dir(out);
	if (fd < 0)
		rmdir(out);
	return fd;
}

void rr__drop_dir(const char *dir, int lock_fd)
{
	if (lock_fd < 0)
		return;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/" RR__LOCK_NAME, dir);
	unlink(path);
	close(lock_fd);
}

/* The segments registry of the scratch folder DIR, opened once per process
 * (forked writers share the open file: their records go to one place). */
static int seg_fd = -1;

void rr__record_shm(const char *dir, int slot, int shmid)
{
	if (!dir || !dir[0] || slot < 0 || slot >= RR_MAX_TRACKED)
		return;
	if (seg_fd < 0) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/" RR__SEGMENTS_NAME, dir);
		seg_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (seg_fd < 0)
			return;
	}
	char rec[RR__SEG_RECORD + 1];
	struct shmid_ds ds;
	if (shmid < 0 || shmctl(shmid, IPC_STAT, &ds) < 0)
		snprintf(rec, sizeof rec, "%-*s", RR__SEG_RECORD - 1, "-1");
	else
		snprintf(rec, sizeof rec, "%-11d %-11d %-22lld", shmid, (int)ds.shm_cpid,
			 (long long)ds.shm_ctime);
	rec[RR__SEG_RECORD - 1] = '\n';
	if (pwrite(seg_fd, rec, RR__SEG_RECORD, (off_t)slot * RR__SEG_RECORD) < 0)
		return; /* the registry only helps a later sweep; the run goes on */
}

/* Gone, or a zombie nobody has reaped yet (a killed driver's worker is
 * reparented and may wait a while for its reaper): either holds nothing. */
static int pid_dead(long pid)
{
	if (pid <= 0)
		return 0;
	if (kill((pid_t)pid, 0) < 0)
		return errno == ESRCH;
	return rr__proc_state(pid, 0) == 'Z';
}

static void remove_recorded_segments(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/" RR__SEGMENTS_NAME, dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	char line[128];
	while (fgets(line, sizeof line, f)) {
		int shmid, cpid;
		long long ctime;
		if (sscanf(line, "%d %d %lld", &shmid, &cpid, &ctime) != 3 || shmid < 0)
			continue;
		struct shmid_ds ds;
		if (shmctl(shmid, IPC_STAT, &ds) < 0)
			continue;
		if ((int)ds.shm_cpid != cpid || (long long)ds.shm_ctime != ctime ||
		    ds.shm_perm.uid != geteuid() || !pid_dead(cpid))
			continue;
		shmctl(shmid, IPC_RMID, NULL);
	}
	fclose(f);
}

/* Removes DIR if its lock file exists and nobody holds it any more. */
static int sweep_one(const char *dir, long pid)
{
	struct stat st;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return 0;
	if (pid > 0 && !pid_dead(pid))
		return 0;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/" RR__LOCK_NAME, dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 0;
	}
	remove_recorded_segments(dir);
	rr__remove_tree(dir);
	close(fd);
	return 1;
}

/* racerepro-<pid>-XXXXXX, as rr__private_dir names them; the pid or -1. */
static long scratch_pid(const char *name)
{
	if (strncmp(name, "racerepro-", 10))
		return -1;
	char *end;
	long pid = strtol(name + 10, &end, 10);
	if (end == name + 10 || *end != '-' || strlen(end + 1) != 6)
		return -1;
	return pid;
}

/* Sweeps what BASE holds: with WORKERS 0, the scratch and temporary folders
 * named for the process that made them; with WORKERS 1, the workers/ folder
 * of each run folder under a reports folder. */
static int sweep_folder(const char *base, int workers)
{
	DIR *d = opendir(base);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		long pid = workers ? 0 : scratch_pid(de->d_name);
		if (workers ? de->d_name[0] == '.' : pid <= 0)
			continue;
		char dir[PATH_MAX];
		if (workers)
			snprintf(dir, sizeof dir, "%s/%s/workers", base, de->d_name);
		else
			snprintf(dir, sizeof dir, "%s/%s", base, de->d_name);
		n += sweep_one(dir, pid);
	}
	closedir(d);
	return n;
}

int rr__sweep_stale(void)
{
	const char *a = rr__scratch_base(), *b = rr__tmp_base();
	int n = sweep_folder(a, 0);
	if (strcmp(a, b))
		n += sweep_folder(b, 0);
	return n;
}

int rr__sweep_workers(const char *reports)
{
	return sweep_folder(reports, 1);
}
