/*
 * fileio.c: see fileio.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

/* Owner-only: the mode of open(O_CREAT) is only a ceiling under the umask,
 * and an existing file keeps its mode, so both are set explicitly. */
static int open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && fchmod(fd, 0600) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

FILE *rr__fopen_private(const char *path)
{
	int fd = open_private(path);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

FILE *rr__atomic_open(const char *path, char *tmp, size_t tmpcap)
{
	if ((size_t)snprintf(tmp, tmpcap, "%s.tmp", path) >= tmpcap) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	FILE *f = rr__fopen_private(tmp);
	if (!f) {
		int e = errno;
		unlink(tmp);
		errno = e;
	}
	return f;
}

int rr__atomic_commit(FILE *f, const char *tmp, const char *path)
{
	int err = ferror(f) ? EIO : 0;
	if (fflush(f) || fsync(fileno(f)))
		err = errno ? errno : EIO;
	if (fclose(f) && !err)
		err = errno ? errno : EIO;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err) {
		unlink(tmp);
		return -err;
	}
	return 0;
}

int rr__write_text(const char *path, const char *text)
{
	int fd = open_private(path);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	int err = n < 0 ? errno : n != (ssize_t)len ? ENOSPC : 0;
	if (close(fd) < 0 && !err)
		err = errno;
	return -err;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void rr__remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

long rr__read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, cap - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return (long)n;
}

char rr__proc_state(long pid, long tid)
{
	char path[96], buf[512];
	if (tid > 0)
		snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", pid, tid);
	else
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (rr__read_small(path, buf, sizeof buf) <= 0)
		return 0;
	/* The command name in parentheses may hold spaces and ')': the state
	 * follows the last ')'. */
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' ? rp[2] : '?';
}
