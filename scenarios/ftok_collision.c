/*
 * ftok_collision: two programs, one System V key.
 *
 * Upstream. glibc sysvipc/ftok.c builds a System V IPC key from a file and a
 * project id as
 *
 *     key = (st_ino & 0xffff) | ((st_dev & 0xff) << 16) | ((proj_id & 0xff) << 24)
 *
 * so two different files on one device whose inode numbers agree in their low
 * 16 bits give the same key for the same proj_id. In the documented incident,
 * programs B and C each wrote tagged records into "their own" shared memory
 * segment (shmget(ftok(own_file, id), size, IPC_CREAT|0600)) for program A to
 * read. On one machine of eleven their key files had inodes 0x1E64001 and
 * 0x1EC4001: both end in 0x4001, so B and C shared one segment, A read
 * garbage; `ipcs -m` and its nattch column showed why. The class
 * of fix: naver/nbase-arc#107 probes proj_id until a key is free;
 * php/php-src#11789 derives keys from a hash of the path.
 *
 * Our model, with real files, real ftok(), real shmget/shmat and real
 * processes:
 *   program A  -> reader-a, the iterate() thread: ftok()s both key files,
 *                 attaches both segments, checks every record's tag and each
 *                 segment's nattch and creator (shmctl IPC_STAT);
 *   program B  -> writer-b, a process: ftok(writer-b.key), shmget, shmat,
 *                 writes records tagged 'B';
 *   program C  -> writer-c, the same code with writer-c.key and tag 'C'.
 * setup() finds two real files whose keys collide (see find_colliding_pair),
 * as the unlucky machine had by accident.
 *
 * The failing sequence (buggy), key K = ftok(b.key) = ftok(c.key):
 *
 *     writer-b                               writer-c
 *     shmget(K, IPC_CREAT) -> new shmid 7
 *     shmat(7), writes 'B' records
 *                                            shmget(K, IPC_CREAT) -> shmid 7 (B's!)
 *                                            shmat(7), writes 'C' over 'B'
 *     reader-a: shmget(ftok(b.key)) -> 7 holds 'C' records, nattch 3 (expected 2)
 *
 * Is it a race? Not in the usual sense: once the keys collide, the buggy
 * variant shares a segment on every run in which both writers get as far as
 * shmget, whatever the order. The interleaving decides only which writer
 * creates the segment and which one silently attaches, and how the two
 * writers' records mix in it. The reader looks only after both writers have
 * written, as A did with long-running B and C, so it always sees the damage:
 * the buggy variant fails on every iteration under every strategy, and we
 * make no pretence of a rare window. What the strategies explore here is the
 * fixed variant's protocol: the window between a creator's shmget and the
 * publication of its header, in which a prober finds the key taken by a
 * segment that cannot yet say whose it is.
 *
 * The fix (the lines under RR_FIXED): create with IPC_CREAT|IPC_EXCL, so a key
 * held by anyone else is an error rather than a share; give each segment a
 * header (magic, the creator's full st_dev and st_ino, a hash of the path)
 * published last; on EEXIST attach, verify the header, and probe the next key
 * (proj_id + 1, as nbase-arc does) unless the header names our own file. A
 * header not yet published counts as foreign: its creator may never finish,
 * and probing on is always safe. The reader runs
 * the same probe sequence and takes the first segment whose header names the
 * writer's file. Invariant: every attacher has proved that the segment was
 * created for its own key file; a key collision costs one probe, never a
 * shared segment.
 *
 * Synchronization between the processes goes through a small MAP_SHARED
 * channel made in setup (so it has the same address in every process forked
 * from the worker), with an rr_mutex and an rr_cond: the writers report that
 * they have written and then stay attached until the reader has checked, so
 * nattch means what it meant for A, B and C. The harness's controlled
 * scheduler sees waits on these objects across processes; it cannot see
 * another process's fds, so pipes are not used. reader-a has no race point
 * of its own: nothing it does can interleave with the writers' steps until
 * both have reported, and its blocking calls are its scheduling points.
 *
 * Every segment is removed in every iteration: each writer marks the segment
 * it used with IPC_RMID before it detaches (so it vanishes with the last
 * detach), and tracks it with rr_track_shm from shmget to IPC_RMID so that the
 * driver removes it if the worker is killed. In the buggy variant the reader
 * finishes that cleanup before it reports the finding.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <unistd.h>

#include "racerepro.h"

#define NWRITERS 2
#define RECORDS_MAX 64
#define MAX_PROBES 8	      /* keys a writer tries before giving up */
#define SEG_MAGIC 0x3130306b6f746672ull /* "rftok001" */
#define TMPFS_MAGIC_NUMBER 0x01021994

/* The header the fix adds; its magic is stored last (release) and read first
 * (acquire), so a published header is complete. Buggy writers leave it zero. */
struct seg_header {
	uint64_t magic;
	uint64_t dev;
	uint64_t ino;
	uint64_t path_hash;
	int32_t creator_pid;
	uint32_t pad;
};

struct record {
	uint32_t tag; /* 'B' or 'C': whose record this is */
	uint32_t seq;
	int32_t pid;
	uint32_t pad;
};

struct segment {
	struct seg_header hdr;
	struct record rec[RECORDS_MAX];
};

struct key_file {
	char path[PATH_MAX];
	uint64_t dev;
	uint64_t ino;
	uint64_t path_hash;
};

/* The writers' report to the reader, and the reader's release. */
struct channel {
	struct rr_mutex lock;
	struct rr_cond cond;
	int posted;		/* writers that have reported */
	int failed[NWRITERS];	/* a writer could not set up its segment */
	int pid[NWRITERS];
	int released;		/* the reader has checked: detach and remove */
};

struct ftok_state {
	char dir[PATH_MAX / 2];	/* holds the two key files */
	int on_tmpfs;
	struct key_file key[NWRITERS];
	struct channel *chan;	/* MAP_SHARED, mapped before any writer forks */
	int proj;
	int records;
};

struct writer_arg {
	struct ftok_state *s;
	int idx;
};

static const char *const roles[] = {"reader-a", "writer-b", "writer-c", NULL};
static const char tags[NWRITERS] = {'B', 'C'};

static const struct rr_param params[] = {
	{"proj_id", "65", "the proj_id both writers pass to ftok (65 = 'A'); only its low 8 bits count"},
	{"records", "8", "tagged records each writer writes (1..64)"},
	{NULL, NULL, NULL},
};

static const char *writer_role(int idx)
{
	return roles[1 + idx];
}

/* FNV-1a, 64 bits: the path hash in the header. Any stable hash will do; it
 * only has to tell two key files apart when st_dev and st_ino somehow match. */
static uint64_t path_hash(const char *p)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ------------------------------------------------------------------------ */
/* Setup: two real files whose ftok keys collide                             */
/* ------------------------------------------------------------------------ */

static int on_tmpfs(const char *path)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 && fs.f_type == TMPFS_MAGIC_NUMBER;
}

/* Picks the directory for the key files: a subdirectory of the harness's
 * scratch dir, which the driver removes however the worker ends. The search
 * below makes files until two inode numbers agree in their low 16 bits: at
 * most 65,537 files on any filesystem (pigeonhole), and on tmpfs, where inode
 * numbers are handed out in sequence, about that many, half a second. The
 * harness puts the scratch dir on /dev/shm (tmpfs) whenever /dev/shm is
 * writable, so a private directory of our own there would gain nothing and
 * would be ours to remove after a worker killed before its teardown. When
 * the scratch dir is on a disk filesystem the bound still holds, only
 * slower (about a second on ext4); the env note records which it was. */
static int choose_dir(struct ftok_state *s)
{
	const char *scratch = rr_scratch_dir();
	if (!scratch)
		return rr_env_error(ENOENT, "rr_scratch_dir: no scratch directory");
	int n = snprintf(s->dir, sizeof s->dir, "%s/ftok-keys", scratch);
	if (n < 0 || (size_t)n >= sizeof s->dir)
		return rr_env_error(ENAMETOOLONG, "scratch dir %s: name too long", scratch);
	if (mkdir(s->dir, 0700) < 0)
		return rr_env_error(errno, "mkdir %s: %s", s->dir, strerror(errno));
	s->on_tmpfs = on_tmpfs(s->dir);
	return 0;
}

static void candidate_name(char *buf, size_t cap, int n)
{
	snprintf(buf, cap, "cand-%05x", n);
}

/* Creates empty files in S->dir and indexes them by st_ino & 0xffff until two
 * share a slot; renames that pair to writer-b.key and writer-c.key and deletes
 * the rest. Returns 0 or -errno (after rr_env_error). */
static int find_colliding_pair(struct ftok_state *s)
{
	int *slot = malloc(65536 * sizeof *slot);
	if (!slot)
		return rr_env_error(ENOMEM, "malloc: %s", strerror(ENOMEM));
	memset(slot, 0xff, 65536 * sizeof *slot);
	int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		free(slot);
		return rr_env_error(errno, "open %s: %s", s->dir, strerror(errno));
	}
	char name[32];
	int made = 0, first = -1, second = -1, rc = 0;
	/* 65,537 live files cannot all differ in 16 bits. */
	while (made <= 65536) {
		candidate_name(name, sizeof name, made);
		int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = rr_env_error(errno, "create %s/%s: %s", s->dir, name, strerror(errno));
			break;
		}
		made++;
		struct stat st;
		if (fstat(fd, &st) < 0) {
			rc = rr_env_error(errno, "fstat %s/%s: %s", s->dir, name, strerror(errno));
			close(fd);
			break;
		}
		if (close(fd) < 0) {
			rc = rr_env_error(errno, "close %s/%s: %s", s->dir, name, strerror(errno));
			break;
		}
		unsigned low = (unsigned)(st.st_ino & 0xffff);
		if (slot[low] >= 0) {
			first = slot[low];
			second = made - 1;
			break;
		}
		slot[low] = made - 1;
	}
	free(slot);
	if (!rc && first < 0)
		rc = rr_env_error(EPROTO, "%d files in %s and no two inode numbers agree in 16 bits",
				  made, s->dir);
	const char *keep_as[NWRITERS] = {"writer-b.key", "writer-c.key"};
	int keep[NWRITERS] = {first, second};
	for (int i = 0; !rc && i < NWRITERS; i++) {
		candidate_name(name, sizeof name, keep[i]);
		if (renameat(dfd, name, dfd, keep_as[i]) < 0)
			rc = rr_env_error(errno, "rename %s/%s: %s", s->dir, name, strerror(errno));
	}
	for (int n = 0; n < made; n++) {
		candidate_name(name, sizeof name, n);
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT && !rc)
			rc = rr_env_error(errno, "unlink %s/%s: %s", s->dir, name, strerror(errno));
	}
	close(dfd);
	if (rc)
		return rc;
	for (int i = 0; i < NWRITERS; i++) {
		struct key_file *k = &s->key[i];
		struct stat st;
		char path[sizeof k->path];
		snprintf(path, sizeof path, "%s/%s", s->dir, keep_as[i]);
		memcpy(k->path, path, sizeof path);
		if (stat(k->path, &st) < 0)
			return rr_env_error(errno, "stat %s: %s", k->path, strerror(errno));
		k->dev = (uint64_t)st.st_dev;
		k->ino = (uint64_t)st.st_ino;
		k->path_hash = path_hash(k->path);
	}
	return 0;
}

static void ftok_teardown(void *state);

static int ftok_setup(void **state)
{
	struct ftok_state *s = calloc(1, sizeof *s);
	if (!s)
		return rr_env_error(ENOMEM, "calloc: %s", strerror(ENOMEM));
	*state = s;
	s->proj = (int)rr_param_int("proj_id");
	s->records = (int)rr_param_int("records");
	if (s->records < 1 || s->records > RECORDS_MAX) {
		int rc = rr_env_error(EINVAL, "records=%d: must be 1..%d", s->records, RECORDS_MAX);
		ftok_teardown(s);
		*state = NULL;
		return rc;
	}
	s->chan = mmap(NULL, sizeof *s->chan, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (s->chan == MAP_FAILED) {
		s->chan = NULL;
		int rc = rr_env_error(errno, "mmap channel: %s", strerror(errno));
		ftok_teardown(s);
		*state = NULL;
		return rc;
	}
	int rc = choose_dir(s);
	if (!rc)
		rc = find_colliding_pair(s);
	if (!rc) {
		/* The whole scenario rests on this: check it with the real ftok(). */
		key_t kb = ftok(s->key[0].path, s->proj), kc = ftok(s->key[1].path, s->proj);
		if (kb == -1 || kc == -1)
			rc = rr_env_error(errno, "ftok: %s", strerror(errno));
		else if (kb != kc)
			rc = rr_env_error(EPROTO, "ftok keys differ: 0x%08x and 0x%08x", (unsigned)kb,
					  (unsigned)kc);
		else
			rr_env_note("ftok_keys",
				    "key 0x%08x for inodes 0x%llx and 0x%llx in %s (%s)", (unsigned)kb,
				    (unsigned long long)s->key[0].ino,
				    (unsigned long long)s->key[1].ino, s->dir,
				    s->on_tmpfs ? "tmpfs" : "not tmpfs: slower search");
	}
	if (rc) {
		ftok_teardown(s);
		*state = NULL;
	}
	return rc;
}

static void ftok_teardown(void *state)
{
	struct ftok_state *s = state;
	if (!s)
		return;
	for (int i = 0; i < NWRITERS; i++)
		if (s->key[i].path[0])
			unlink(s->key[i].path);
	if (s->dir[0])
		rmdir(s->dir);
	if (s->chan)
		munmap(s->chan, sizeof *s->chan);
	free(s);
}

/* ------------------------------------------------------------------------ */
/* The shared channel                                                        */
/* ------------------------------------------------------------------------ */

/* The channel's mutex and condition are used by several processes: in
 * free-running strategies they must be process-shared pthread objects. The
 * harness initialises them process-private, so re-initialise the wrapped
 * objects with PTHREAD_PROCESS_SHARED (racerepro.h has no pshared variant).
 * CLOCK_MONOTONIC is kept, as rr_cond_timedwait measures on it. */
static int channel_init(struct channel *c)
{
	memset(c, 0, sizeof *c);
	rr_mutex_init(&c->lock, "channel.lock");
	rr_cond_init(&c->cond, "channel.cond");
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	int rc = pthread_mutex_destroy(&c->lock.m);
	if (!rc)
		rc = pthread_mutexattr_init(&ma);
	if (!rc) {
		rc = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		if (!rc)
			rc = pthread_mutex_init(&c->lock.m, &ma);
		pthread_mutexattr_destroy(&ma);
	}
	if (!rc)
		rc = pthread_cond_destroy(&c->cond.c);
	if (!rc)
		rc = pthread_condattr_init(&ca);
	if (!rc) {
		rc = pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
		if (!rc)
			rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (!rc)
			rc = pthread_cond_init(&c->cond.c, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (rc)
		return rr_env_error(rc, "process-shared channel: %s", strerror(rc));
	return 0;
}

static void channel_destroy(struct channel *c)
{
	rr_cond_destroy(&c->cond);
	rr_mutex_destroy(&c->lock);
}

/* ------------------------------------------------------------------------ */
/* Segments                                                                  */
/* ------------------------------------------------------------------------ */

static key_t probe_key(const struct key_file *k, int proj, int probe, int *err)
{
	key_t key = ftok(k->path, (proj + probe) & 0xff);
	*err = key == -1 ? errno : 0;
	return key;
}

static int header_names(const struct segment *seg, const struct key_file *k)
{
	return __atomic_load_n(&seg->hdr.magic, __ATOMIC_ACQUIRE) == SEG_MAGIC &&
	       seg->hdr.dev == k->dev && seg->hdr.ino == k->ino &&
	       seg->hdr.path_hash == k->path_hash;
}

/* Fixed only: KEY is taken (EEXIST). Attaches it and reads its header.
 * Returns 1 with *SEG attached if the header names our own key file (a
 * segment an earlier run of this program left: it is ours to use), 0 if the
 * segment is foreign or not yet published (probe the next key), or -errno. */
static int claim_existing(const struct key_file *k, key_t key, int *id, struct segment **seg)
{
	*id = shmget(key, 0, 0600);
	if (*id < 0) {
		*id = -1;
		if (errno == ENOENT || errno == EACCES) /* gone again, or not ours to read */
			return 0;
		return rr_env_error(errno, "shmget(0x%08x): %s", (unsigned)key, strerror(errno));
	}
	/* Opens the window in which the creator has made the segment but not yet
	 * published its header: an unpublished header must count as foreign. */
	rr_point("writer.verify_header");
	void *p = shmat(*id, NULL, 0);
	if (p == (void *)-1) {
		int e = errno, foreign = *id;
		*id = -1;
		if (e == EIDRM || e == EINVAL) /* removed meanwhile */
			return 0;
		return rr_env_error(e, "shmat(%d): %s", foreign, strerror(e));
	}
	*seg = p;
	if (header_names(*seg, k)) {
		rr_track_shm(*id);
		return 1;
	}
	rr_event("key 0x%08x: shmid %d belongs to another file, probing on", (unsigned)key, *id);
	*id = -1; /* not ours: never remove it */
	*seg = NULL;
	if (shmdt(p) < 0)
		return rr_env_error(errno, "shmdt: %s", strerror(errno));
	return 0;
}

/* Gets and attaches the segment for key file K. Returns 0 with *ID and *SEG
 * set (and the id tracked), or -errno after rr_env_error. */
static int writer_open(const struct ftok_state *s, const struct key_file *k, int *id,
		       struct segment **seg)
{
	for (int probe = 0; probe < MAX_PROBES; probe++) {
		int err;
		key_t key = probe_key(k, s->proj, probe, &err);
		if (key == -1)
			return rr_env_error(err, "ftok(%s): %s", k->path, strerror(err));
		if (key == IPC_PRIVATE)
			continue;
		/* Whichever writer reaches shmget first creates the segment; the
		 * other (buggy) silently gets the same one. */
		rr_point("writer.shmget");
		int flags = IPC_CREAT | 0600;
		if (RR_FIXED)
			flags |= IPC_EXCL; /* a key someone holds is an error, not a share */
		*id = shmget(key, sizeof(struct segment), flags);
		if (*id >= 0) {
			rr_track_shm(*id);
			void *p = shmat(*id, NULL, 0);
			if (p == (void *)-1)
				return rr_env_error(errno, "shmat(%d): %s", *id, strerror(errno));
			*seg = p;
			struct shmid_ds ds;
			if (shmctl(*id, IPC_STAT, &ds) < 0)
				return rr_env_error(errno, "shmctl(%d, IPC_STAT): %s", *id,
						    strerror(errno));
			rr_event("shmget(0x%08x) -> shmid %d, %s", (unsigned)key, *id,
				 ds.shm_cpid == getpid() ? "created" : "someone else's");
			if (RR_FIXED) {
				(*seg)->hdr.dev = k->dev;
				(*seg)->hdr.ino = k->ino;
				(*seg)->hdr.path_hash = k->path_hash;
				(*seg)->hdr.creator_pid = (int32_t)getpid();
				/* The key is taken but the header is not yet
				 * there: a prober attaching now sees no owner. */
				rr_point("writer.publish_header");
				__atomic_store_n(&(*seg)->hdr.magic, SEG_MAGIC, __ATOMIC_RELEASE);
			}
			return 0;
		}
		if (!RR_FIXED || errno != EEXIST)
			return rr_env_error(errno, "shmget(0x%08x): %s", (unsigned)key,
					    strerror(errno));
		int rc = claim_existing(k, key, id, seg);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return 0;
	}
	return rr_env_error(EEXIST, "ftok(%s): %d keys probed, all taken", k->path, MAX_PROBES);
}

/* Marks the segment for removal and detaches: it vanishes with the last
 * detach, whoever that is. */
static int segment_release(int id, struct segment *seg)
{
	int rc = 0;
	if (id >= 0) {
		/* In the buggy variant both writers remove the one shared segment;
		 * the second IPC_RMID finds it already marked (still attached),
		 * or gone if the other writer detached first. */
		if (shmctl(id, IPC_RMID, NULL) < 0 && errno != EINVAL && errno != EIDRM)
			rc = rr_env_error(errno, "shmctl(%d, IPC_RMID): %s", id, strerror(errno));
		rr_untrack_shm(id);
	}
	if (seg && shmdt(seg) < 0 && !rc)
		rc = rr_env_error(errno, "shmdt: %s", strerror(errno));
	return rc;
}

/* writer-b and writer-c: programs B and C. */
static int writer_main(void *arg)
{
	struct writer_arg *w = arg;
	struct ftok_state *s = w->s;
	struct channel *c = s->chan;
	int id = -1;
	struct segment *seg = NULL;
	int rc = writer_open(s, &s->key[w->idx], &id, &seg);
	for (int i = 0; !rc && i < s->records; i++) {
		/* Interleaves the two writers' records when they share a segment. */
		rr_point("writer.write_record");
		/* writer_open set seg when it returned 0. */
		seg->rec[i] = (struct record){ // NOLINT(clang-analyzer-core.NullDereference)
			.tag = (uint32_t)tags[w->idx], .seq = (uint32_t)i, .pid = (int32_t)getpid()};
	}
	/* Report (also a failure, so the reader never waits for nothing), then
	 * stay attached until the reader has looked, as a running B or C would. */
	rr_mutex_lock(&c->lock);
	c->failed[w->idx] = rc != 0;
	c->pid[w->idx] = (int)getpid();
	c->posted++;
	rr_cond_broadcast(&c->cond);
	while (!c->released)
		rr_cond_wait(&c->cond, &c->lock);
	rr_mutex_unlock(&c->lock);
	int rc2 = segment_release(id, seg);
	return rc || rc2 ? 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* reader-a: program A                                                       */
/* ------------------------------------------------------------------------ */

/* Finds and attaches (read-only) writer IDX's segment the way program A does:
 * buggy, the segment under ftok(key file); fixed, the first in the probe
 * sequence whose header names the key file. Returns 1 found, 0 not found,
 * -errno. */
static int reader_find(const struct ftok_state *s, int idx, int *id, key_t *key,
		       struct segment **seg)
{
	const struct key_file *k = &s->key[idx];
	int probes = RR_FIXED ? MAX_PROBES : 1;
	for (int probe = 0; probe < probes; probe++) {
		int err;
		*key = probe_key(k, s->proj, probe, &err);
		if (*key == -1)
			return rr_env_error(err, "ftok(%s): %s", k->path, strerror(err));
		if (*key == IPC_PRIVATE)
			continue;
		*id = shmget(*key, 0, 0600);
		if (*id < 0) {
			if (errno == ENOENT || errno == EACCES)
				continue;
			return rr_env_error(errno, "shmget(0x%08x): %s", (unsigned)*key,
					    strerror(errno));
		}
		void *p = shmat(*id, NULL, SHM_RDONLY);
		if (p == (void *)-1) {
			if (errno == EIDRM || errno == EINVAL)
				continue;
			return rr_env_error(errno, "shmat(%d): %s", *id, strerror(errno));
		}
		*seg = p;
		if (RR_BUGGY || header_names(*seg, k))
			return 1;
		if (shmdt(p) < 0)
			return rr_env_error(errno, "shmdt: %s", strerror(errno));
		*seg = NULL;
	}
	return 0;
}

/* Checks writer IDX's segment: every record tagged by that writer, created by
 * it, attached by it and the reader only. Writes the finding to MSG and
 * returns 1, or returns 0 when all is well, or -errno. */
static int reader_check(const struct ftok_state *s, int idx, int id, key_t key,
			const struct segment *seg, char *msg, size_t cap)
{
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return rr_env_error(errno, "shmctl(%d, IPC_STAT): %s", id, strerror(errno));
	int count[NWRITERS] = {0, 0}, other = 0;
	for (int i = 0; i < s->records; i++) {
		/* reader_find returned 1, so seg is attached. */
		uint32_t t = seg->rec[i].tag; // NOLINT(clang-analyzer-core.NullDereference)
		if (t == (uint32_t)tags[0])
			count[0]++;
		else if (t == (uint32_t)tags[1])
			count[1]++;
		else
			other++;
	}
	int foreign = count[!idx] + other;
	/* Its writer and the reader; a second writer in it makes 3. */
	int nattch_ok = ds.shm_nattch == 2;
	int creator_ok = ds.shm_cpid == s->chan->pid[idx];
	if (!foreign && nattch_ok && creator_ok)
		return 0;
	const char *creator = ds.shm_cpid == s->chan->pid[0]   ? writer_role(0)
			      : ds.shm_cpid == s->chan->pid[1] ? writer_role(1)
							       : "another process";
	/* The details differ with the interleaving (who created the segment,
	 * whose records survived); they go to the trace. The finding's text
	 * stays the same so that every run counts as one failure. */
	rr_event("shmid %d: %d '%c' + %d '%c' records, nattch %lu, made by %s", id, count[0],
		 tags[0], count[1], tags[1], (unsigned long)ds.shm_nattch, creator);
	snprintf(msg, cap,
		 "writer-b (tag '%c') and writer-c (tag '%c') share one System V segment: "
		 "%s's key 0x%08x, nattch %lu where 2 expected",
		 tags[0], tags[1], writer_role(idx), (unsigned)key, (unsigned long)ds.shm_nattch);
	return 1;
}

static int stat_gone(int id)
{
	struct shmid_ds ds;
	return shmctl(id, IPC_STAT, &ds) < 0 && (errno == EINVAL || errno == EIDRM);
}

static int ftok_iterate(void *state)
{
	struct ftok_state *s = state;
	struct channel *c = s->chan;
	int rc = channel_init(c);
	if (rc)
		return rc;
	struct writer_arg args[NWRITERS];
	int pid[NWRITERS] = {-1, -1};
	for (int i = 0; i < NWRITERS; i++) {
		args[i] = (struct writer_arg){.s = s, .idx = i};
		pid[i] = rr_process_start(writer_role(i), writer_main, &args[i]);
		if (pid[i] < 0) {
			rc = pid[i];
			break;
		}
	}
	int started = pid[1] >= 0 ? 2 : pid[0] >= 0 ? 1 : 0;

	/* Wait until every started writer has written (or failed). */
	rr_mutex_lock(&c->lock);
	while (c->posted < started)
		rr_cond_wait(&c->cond, &c->lock);
	int writers_ok = started == NWRITERS && !c->failed[0] && !c->failed[1];
	rr_mutex_unlock(&c->lock);

	char finding[512] = "";
	int ids[NWRITERS] = {-1, -1};
	struct segment *segs[NWRITERS] = {NULL, NULL};
	for (int i = 0; !rc && writers_ok && i < NWRITERS; i++) {
		key_t key;
		int found = reader_find(s, i, &ids[i], &key, &segs[i]);
		if (found < 0) {
			rc = found;
		} else if (!found) {
			snprintf(finding, sizeof finding,
				 "reader-a found no segment for %s's key file", writer_role(i));
		} else if (!finding[0]) {
			int bad = reader_check(s, i, ids[i], key, segs[i], finding, sizeof finding);
			if (bad < 0)
				rc = bad;
		}
	}
	for (int i = 0; i < NWRITERS; i++)
		if (segs[i] && shmdt(segs[i]) < 0 && !rc)
			rc = rr_env_error(errno, "shmdt: %s", strerror(errno));

	/* Let the writers remove their segments and exit, also after a finding,
	 * so the iteration leaves nothing behind. */
	rr_mutex_lock(&c->lock);
	c->released = 1;
	rr_cond_broadcast(&c->cond);
	rr_mutex_unlock(&c->lock);
	for (int i = 0; i < NWRITERS; i++) {
		if (pid[i] < 0)
			continue;
		int st = rr_process_wait(pid[i]);
		if (st != 0 && !rc)
			rc = rr_env_error(EPROTO, "%s exited with status %d", writer_role(i), st);
	}
	channel_destroy(c);
	for (int i = 0; !rc && i < NWRITERS; i++)
		if (ids[i] >= 0 && !stat_gone(ids[i]))
			rc = rr_env_error(EEXIST, "shmid %d survived the iteration", ids[i]);
	if (rc)
		return rc;
	if (finding[0])
		rr_bug("%s", finding);
	return 0;
}

RR_DEFINE_SCENARIO(ftok_collision) = {
	.name = "ftok_collision",
	.upstream = "glibc sysvipc/ftok.c key collision; fixes as naver/nbase-arc#107, php/php-src#11789",
	.summary = "two writers whose key files share the low 16 inode bits get one System V segment",
	.symptom = "writer-b and writer-c share one segment: reader-a sees nattch 3 where 2 expected, "
		   "and writer-c's tags or creator in writer-b's segment",
	.roles = roles,
	.variants = rr_variants_buggy_fixed,
	.params = params,
	.setup = ftok_setup,
	.iterate = ftok_iterate,
	.teardown = ftok_teardown,
};
