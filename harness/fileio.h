/*
 * fileio.h: the harness's few ways of writing, reading and removing files.
 */
#ifndef RR_FILEIO_H
#define RR_FILEIO_H

#include <stddef.h>
#include <stdio.h>

/* Atomic replacement: write into the stream rr__atomic_open returns (a
 * PATH.tmp beside PATH, owner-only), then rr__atomic_commit flushes it to the
 * disk and renames it over PATH, so that a full disk or a kill leaves the
 * previous PATH, never half of a new one. TMP (TMPCAP bytes) receives the
 * temporary name. rr__atomic_open returns NULL with errno set; commit returns
 * 0, or -errno after removing the temporary file (F is closed either way). */
FILE *rr__atomic_open(const char *path, char *tmp, size_t tmpcap);
int rr__atomic_commit(FILE *f, const char *tmp, const char *path);

/* fopen(PATH, "w") that makes the file owner-only (0600) whatever the umask,
 * and takes a file that already exists back to 0600. NULL with errno set. */
FILE *rr__fopen_private(const char *path);

/* Writes TEXT to PATH (owner-only). Returns 0 or -errno (the caller says so:
 * a full disk is one line for the whole run, not one per file). */
int rr__write_text(const char *path, const char *text);

/* Reads at most CAP-1 bytes of PATH (a small file such as one under /proc)
 * into BUF and ends them with a NUL. Returns the bytes read, or -errno. */
long rr__read_small(const char *path, char *buf, size_t cap);

/* The kernel's state letter of process PID, or of its thread TID when TID > 0
 * ('R', 'S', 'D', 'Z', ...), read from its /proc stat file: '?' when the line
 * cannot be read, 0 when the process or thread is gone. */
char rr__proc_state(long pid, long tid);

/* rm -rf PATH (no symlinks followed). */
void rr__remove_tree(const char *path);

#endif
