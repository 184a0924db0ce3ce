/*
 * ftok_audit.c: `racerepro ftok-audit`, the check the ftok incident's authors
 * wished they had run before deploying (see scenarios/ftok_collision.c).
 *
 * glibc's ftok() (sysvipc/ftok.c) keeps only 32 bits of (file, project):
 *
 *     key = (st_ino & 0xffff) | ((st_dev & 0xff) << 16) | ((proj_id & 0xff) << 24)
 *
 * so two files whose inode numbers agree in the low 16 bits, on devices whose
 * numbers agree in the low 8 bits, used with project ids that agree in the
 * low 8 bits, get one key, and programs that believe they own separate System
 * V objects share one. This command computes every listed file's key, reports
 * every pair of distinct files with the same key, and with --live lists the
 * shared memory segments in /proc/sysvipc/shm that sit under those keys and
 * look wrong.
 *
 * Exit codes: 0 no collision (and nothing wrong live), 1 a collision or a
 * suspicious live segment, 2 bad input (a missing path, an unreadable list, an
 * unknown option).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "rr_internal.h"

#define AUDIT_EXIT_OK 0
#define AUDIT_EXIT_FOUND 1
#define AUDIT_EXIT_USAGE 2
#define PROC_SHM "/proc/sysvipc/shm"

struct audit_entry {
	char *path;
	int proj;
	struct stat st;
	uint32_t key;
};

struct audit {
	struct audit_entry *e;
	size_t n, cap;
	int live;
	long expect_nattch; /* -1: not checked */
};

static void audit_usage(FILE *f)
{
	fputs("usage: racerepro ftok-audit [--proj ID] [--live] [--nattch N] PATH... [--list FILE]\n"
	      "\n"
	      "Computes the System V key glibc's ftok(PATH, ID) gives each file,\n"
	      "  key = (st_ino & 0xffff) | ((st_dev & 0xff) << 16) | ((ID & 0xff) << 24),\n"
	      "and reports every pair of distinct files whose keys collide.\n"
	      "\n"
	      "  --proj ID     project id for the paths that follow (a number, or one\n"
	      "                character as in ftok(path, 'A')); default 1\n"
	      "  --list FILE   read paths from FILE ('-' for stdin), one per line, as PATH or\n"
	      "                PATH PROJ; blank lines and lines starting with # are skipped\n"
	      "  --live        also list segments in " PROC_SHM " under the listed keys\n"
	      "                and flag those that look wrong: a key shared by several key\n"
	      "                files, a creator uid that does not own the key file, a stale\n"
	      "                segment (creator gone, nothing attached), nattch other than\n"
	      "                --nattch\n"
	      "  --nattch N    the attachment count each live segment should have\n"
	      "  --help        this text\n"
	      "\n"
	      "Exit status: 0 no collision, 1 a collision or a suspicious live segment,\n"
	      "2 bad input (a missing path, an unknown option).\n",
	      f);
}

/* One-line error for bad input; returns the usage exit code. */
static int audit_bad(const char *fmt, ...) RR_PRINTF(1, 2);
static int audit_bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("racerepro ftok-audit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return AUDIT_EXIT_USAGE;
}

/* A project id: a number (decimal, 0x hex, 0 octal) or a single character.
 * Returns 0 or -1. */
static int parse_proj(const char *s, int *out)
{
	if (!*s)
		return -1;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (end != s && !*end && !errno && v >= 0 && v <= INT_MAX) {
		*out = (int)v;
		return 0;
	}
	if (s[1] == '\0' && !isdigit((unsigned char)s[0]) && !isspace((unsigned char)s[0])) {
		*out = (unsigned char)s[0];
		return 0;
	}
	return -1;
}

static uint32_t glibc_key(const struct stat *st, int proj)
{
	return ((uint32_t)st->st_ino & 0xffffu) | (((uint32_t)st->st_dev & 0xffu) << 16) |
	       (((uint32_t)proj & 0xffu) << 24);
}

/* Stats PATH and appends it. Returns 0, or the usage exit code after a
 * one-line error (a path that cannot be stat'ed is named, never skipped). */
static int audit_add(struct audit *a, const char *path, int proj)
{
	struct audit_entry e = {.proj = proj};
	if (stat(path, &e.st) < 0)
		return audit_bad("%s: %s", path, strerror(errno));
	e.key = glibc_key(&e.st, proj);
	/* The formula is glibc's; check it against the ftok() we run on. */
	key_t real = ftok(path, proj);
	if (real == (key_t)-1)
		return audit_bad("ftok(%s): %s", path, strerror(errno));
	if ((uint32_t)real != e.key) {
		fprintf(stderr,
			"racerepro ftok-audit: %s: ftok() gives 0x%08x, the glibc formula 0x%08x; "
			"using ftok()'s\n",
			path, (unsigned)real, (unsigned)e.key);
		e.key = (uint32_t)real;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct audit_entry *p = realloc(a->e, cap * sizeof *p);
		if (!p)
			return audit_bad("out of memory");
		a->e = p;
		a->cap = cap;
	}
	e.path = strdup(path);
	if (!e.path)
		return audit_bad("out of memory");
	a->e[a->n++] = e;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* Reads a list: PATH or PATH PROJ per line. A line whose last
 * whitespace-separated word is not a project id is all path. */
static int audit_read_list(struct audit *a, const char *file, int proj)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	if (!f)
		return audit_bad("--list %s: %s", file, strerror(errno));
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	long lineno = 0;
	while (!rc && getline(&line, &cap, f) >= 0) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		int p = proj;
		char *sp = s + strlen(s);
		while (sp > s && !isspace((unsigned char)sp[-1]))
			sp--;
		if (sp > s && parse_proj(sp, &p) == 0) {
			sp[-1] = '\0';
			s = trim(s);
		} else {
			p = proj;
		}
		rc = audit_add(a, s, p);
	}
	if (!rc && ferror(f))
		rc = audit_bad("--list %s: line %ld: %s", file, lineno + 1, strerror(errno));
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}

static int cmp_by_key(const void *x, const void *y)
{
	const struct audit_entry *a = x, *b = y;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return strcmp(a->path, b->path);
}

static int same_file(const struct audit_entry *a, const struct audit_entry *b)
{
	return a->st.st_dev == b->st.st_dev && a->st.st_ino == b->st.st_ino;
}

/* Prints every pair of distinct files with one key; returns the count. */
static size_t report_collisions(const struct audit *a)
{
	size_t pairs = 0;
	for (size_t i = 0; i < a->n; i++) {
		for (size_t j = i + 1; j < a->n && a->e[j].key == a->e[i].key; j++) {
			const struct audit_entry *x = &a->e[i], *y = &a->e[j];
			if (same_file(x, y) && x->proj == y->proj) {
				printf("same file: %s and %s are one file (inode %llu): "
				       "one key by design, not a collision\n",
				       x->path, y->path, (unsigned long long)x->st.st_ino);
				continue;
			}
			if (same_file(x, y)) { /* proj 1 and 257, say */
				pairs++;
				printf("collision: key 0x%08x: %s with proj %d and %s with proj %d "
				       "(one file; the ids agree in their low 8 bits, 0x%02x)\n",
				       (unsigned)x->key, x->path, x->proj, y->path, y->proj,
				       (unsigned)x->proj & 0xffu);
				continue;
			}
			pairs++;
			printf("collision: key 0x%08x: %s (inode 0x%llx = %llu, dev 0x%llx) and "
			       "%s (inode 0x%llx = %llu, dev 0x%llx): inode low 16 bits 0x%04x, "
			       "dev low 8 bits 0x%02x, proj 0x%02x\n",
			       (unsigned)x->key, x->path, (unsigned long long)x->st.st_ino,
			       (unsigned long long)x->st.st_ino, (unsigned long long)x->st.st_dev,
			       y->path, (unsigned long long)y->st.st_ino,
			       (unsigned long long)y->st.st_ino, (unsigned long long)y->st.st_dev,
			       (unsigned)x->key & 0xffffu, ((unsigned)x->key >> 16) & 0xffu,
			       ((unsigned)x->key >> 24) & 0xffu);
		}
	}
	return pairs;
}

/* Number of distinct files (by device and inode) listed under KEY. */
static size_t files_with_key(const struct audit *a, uint32_t key)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n; i++) {
		if (a->e[i].key != key)
			continue;
		int dup = 0;
		for (size_t j = 0; j < i; j++)
			if (a->e[j].key == key && same_file(&a->e[i], &a->e[j]))
				dup = 1;
		n += !dup;
	}
	return n;
}

static void creator_name(int pid, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(buf, cap, "%s", kill(pid, 0) < 0 && errno == ESRCH ? "gone" : "?");
		return;
	}
	if (!fgets(buf, (int)cap, f))
		snprintf(buf, cap, "?");
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* Lists the live segments under listed keys; returns how many look wrong,
 * or -1 when /proc/sysvipc/shm cannot be read. */
static long report_live(const struct audit *a)
{
	FILE *f = fopen(PROC_SHM, "r");
	if (!f) {
		fprintf(stderr, "racerepro ftok-audit: %s: %s\n", PROC_SHM, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	long bad = 0, seen = 0;
	if (getline(&line, &cap, f) < 0) { /* the header */
		free(line);
		fclose(f);
		return 0;
	}
	while (getline(&line, &cap, f) >= 0) {
		int key, shmid, cpid, lpid;
		unsigned perms, uid, gid, cuid, cgid;
		unsigned long long size, nattch;
		if (sscanf(line, "%d %d %o %llu %d %d %llu %u %u %u %u", &key, &shmid, &perms,
			   &size, &cpid, &lpid, &nattch, &uid, &gid, &cuid, &cgid) != 11)
			continue;
		const struct audit_entry *match = NULL;
		char paths[1024] = "";
		size_t plen = 0;
		for (size_t i = 0; i < a->n; i++) {
			if (a->e[i].key != (uint32_t)key)
				continue;
			if (!match)
				match = &a->e[i];
			if (plen < sizeof paths)
				plen += (size_t)snprintf(paths + plen, sizeof paths - plen, "%s%s",
							 plen ? " and " : "", a->e[i].path);
		}
		if (!match)
			continue;
		seen++;
		char comm[64];
		creator_name(cpid, comm, sizeof comm);
		char why[512] = "";
		size_t len = 0;
		size_t nfiles = files_with_key(a, (uint32_t)key);
		if (nfiles > 1)
			len += (size_t)snprintf(why + len, sizeof why - len,
						"; WRONG: key shared by %zu key files, whose programs "
						"all attach this one segment",
						nfiles);
		if (a->expect_nattch >= 0 && nattch != (unsigned long long)a->expect_nattch &&
		    len < sizeof why)
			len += (size_t)snprintf(why + len, sizeof why - len,
						"; WRONG: nattch %llu where %ld expected", nattch,
						a->expect_nattch);
		if (nattch == 0 && !strcmp(comm, "gone") && len < sizeof why)
			len += (size_t)snprintf(why + len, sizeof why - len,
						"; WRONG: stale: its creator is gone and nothing is "
						"attached, the next program to start gets its old "
						"contents");
		if (cuid != (unsigned)match->st.st_uid && len < sizeof why)
			len += (size_t)snprintf(why + len, sizeof why - len,
						"; WRONG: created by uid %u, key file owned by uid %u",
						cuid, (unsigned)match->st.st_uid);
		bad += len > 0;
		printf("live: key 0x%08x shmid %d size %llu nattch %llu creator pid %d (%s) uid %u "
		       "for %s%s\n",
		       (unsigned)key, shmid, size, nattch, cpid, comm, cuid, paths, why);
	}
	free(line);
	fclose(f);
	printf("live: %ld segment(s) under the listed keys, %ld look wrong\n", seen, bad);
	return bad;
}

static void audit_free(struct audit *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->e[i].path);
	free(a->e);
}

int rr__cmd_ftok_audit(int argc, char **argv)
{
	struct audit a = {.expect_nattch = -1};
	int proj = 1, rc = 0, only_paths = 0;
	for (int i = 1; i < argc && !rc; i++) {
		const char *arg = argv[i];
		const char *val = NULL;
		if (only_paths || arg[0] != '-' || !strcmp(arg, "-")) {
			rc = audit_add(&a, arg, proj);
			continue;
		}
		if (!strcmp(arg, "--")) {
			only_paths = 1;
			continue;
		}
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			audit_usage(stdout);
			audit_free(&a);
			return AUDIT_EXIT_OK;
		}
		if (!strcmp(arg, "--live")) {
			a.live = 1;
			continue;
		}
		/* Options with a value: --opt VALUE or --opt=VALUE. */
		const char *names[] = {"--proj", "--list", "--nattch"};
		const char *name = NULL;
		for (size_t k = 0; k < sizeof names / sizeof names[0] && !name; k++) {
			size_t len = strlen(names[k]);
			if (!strncmp(arg, names[k], len) && (arg[len] == '\0' || arg[len] == '=')) {
				name = names[k];
				if (arg[len] == '=')
					val = arg + len + 1;
				else if (i + 1 < argc)
					val = argv[++i];
			}
		}
		if (!name) {
			rc = audit_bad("unknown option %s (see --help)", arg);
			break;
		}
		if (!val) {
			rc = audit_bad("%s needs a value", name);
			break;
		}
		if (!strcmp(name, "--proj")) {
			if (parse_proj(val, &proj) < 0)
				rc = audit_bad("--proj %s: not a project id (a number >= 0 or one "
					       "character)",
					       val);
		} else if (!strcmp(name, "--list")) {
			rc = audit_read_list(&a, val, proj);
		} else {
			char *end;
			errno = 0;
			a.expect_nattch = strtol(val, &end, 10);
			if (end == val || *end || errno || a.expect_nattch < 0)
				rc = audit_bad("--nattch %s: not a count", val);
		}
	}
	if (!rc && a.n == 0)
		rc = audit_bad("no key files given (see --help)");
	if (rc) {
		audit_free(&a);
		return rc;
	}

	/* a.n > 0 here, so a.e is allocated. */
	qsort(a.e, a.n, sizeof *a.e, cmp_by_key); // NOLINT(clang-analyzer-core.NonNullParamChecker)
	for (size_t i = 0; i < a.n; i++)
		printf("%s: key 0x%08x (proj %d, dev 0x%llx, inode 0x%llx = %llu)\n", a.e[i].path,
		       (unsigned)a.e[i].key, a.e[i].proj, (unsigned long long)a.e[i].st.st_dev,
		       (unsigned long long)a.e[i].st.st_ino, (unsigned long long)a.e[i].st.st_ino);
	size_t pairs = report_collisions(&a);
	printf("ftok-audit: %zu key file(s), %zu colliding pair(s)\n", a.n, pairs);
	long live_bad = 0;
	if (a.live) {
		live_bad = report_live(&a);
		if (live_bad < 0) {
			audit_free(&a);
			return AUDIT_EXIT_USAGE;
		}
	}
	fflush(stdout);
	audit_free(&a);
	return pairs || live_bad ? AUDIT_EXIT_FOUND : AUDIT_EXIT_OK;
}
