/*
 * lifetime.c: the object-lifetime oracle for builds without ASan.
 *
 * Scenarios allocate the objects whose lifetime the race is about (a qpair, a
 * pipe with an embedded operation) with rr_alloc and release them with
 * rr_free. What happens then depends on the build:
 *
 *  - ASan (RR_BUILD_ASAN): rr_alloc is calloc and rr_free is free. ASan's own
 *    quarantine and shadow memory report a use-after-free at the faulty
 *    instruction, with its stack and the alloc/free stacks; nothing here may
 *    stand in the way, so rr_touch does nothing.
 *
 *  - every other build (plain, TSan, UBSan): each object carries a hidden
 *    header in front of the payload (magic, name, size, allocating role and,
 *    once freed, freeing role). rr_free fills the payload with a poison byte
 *    and parks the object in a bounded FIFO quarantine instead of freeing it,
 *    so a stale pointer still points at memory that says "freed". rr_touch,
 *    which a scenario calls right before an access through a pointer that may
 *    be stale, reports the use-after-free as a finding (rr_bug) naming the
 *    object, the role that freed it and the role that touched it. A write into
 *    freed memory that no rr_touch announced is caught when the object leaves
 *    the quarantine (evicted by newer frees, or at the end of every iteration,
 *    when the engine calls rr__lifetime_iteration_end): its poison has changed.
 *
 * Concurrency. Objects are freed on one thread and touched on another, and
 * that is exactly the case a TSan build must keep seeing clearly:
 *  - The header fields that rr_touch and rr_free read outside the lock
 *    (magic, name, size, the roles) are read and written only with relaxed
 *    __atomic builtins. They order nothing and give TSan no happens-before
 *    edge, and TSan never reports atomics as races, so the oracle neither
 *    hides nor invents a race.
 *  - The quarantine list needs mutual exclusion between freeing threads. A
 *    plain pthread mutex would be correct but, under TSan, every unlock/lock
 *    pair would be a release/acquire edge from one scenario thread's rr_free
 *    to the next thread's: a real race between two threads that both free
 *    something would vanish from the report. A relaxed spinlock would hide
 *    nothing but is no lock (the compiler may move the list updates across
 *    it), and TSan would then report the list updates themselves. So the
 *    quarantine takes a real mutex everywhere, and in TSan builds brackets the
 *    critical section with AnnotateIgnoreSyncBegin/End (the lock makes no
 *    edge) and __tsan_ignore_thread_begin/end (the harness's own list updates
 *    and poison checks are not recorded as accesses): mutual exclusion for
 *    real, invisible to the race detector.
 *  - The poison fill in rr_free stays visible to TSan on purpose: it stands
 *    for the free itself, which TSan treats as a write of the whole object,
 *    so an access on another thread that is not ordered before the free is
 *    still reported, as it would be with a real free().
 *
 * The quarantine is bounded (RR__QUARANTINE_MAX objects and _BYTES bytes);
 * the oldest object is checked and really freed when a new one would exceed
 * either bound. rr__lifetime_iteration_end checks and frees everything, since
 * after an iteration no scenario thread holds a pointer any more.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rr_internal.h"
#include "sanitizer.h"

#if defined(RR_BUILD_TSAN)
#define RR__HIDE_BEGIN()                                                                   \
	do {                                                                               \
		AnnotateIgnoreSyncBegin(__FILE__, __LINE__);                               \
		__tsan_ignore_thread_begin();                                              \
	} while (0)
#define RR__HIDE_END()                                                                     \
	do {                                                                               \
		__tsan_ignore_thread_end();                                                \
		AnnotateIgnoreSyncEnd(__FILE__, __LINE__);                                 \
	} while (0)
#else
#define RR__HIDE_BEGIN() ((void)0)
#define RR__HIDE_END() ((void)0)
#endif

#if defined(RR_BUILD_ASAN)

void *rr_alloc(size_t size, const char *name)
{
	void *p = calloc(1, size ? size : 1);

	if (!p)
		rr_env_error(ENOMEM, "rr_alloc(%zu, %s): %s", size, name, strerror(ENOMEM));
	return p;
}

void rr_free(void *p)
{
	free(p);
}

void rr_touch(const void *p, const char *what)
{
	(void)p;
	(void)what;
}

void rr__lifetime_iteration_end(void)
{
}

#else /* quarantine */

#define RR__MAGIC_LIVE 0x6c69766552526f62ULL  /* "boRRevil" */
#define RR__MAGIC_FREED 0x646565726652526fULL /* "oRRfreed" */
#define RR__POISON 0xdb
#define RR__QUARANTINE_MAX 256
#define RR__QUARANTINE_BYTES (4u << 20)

struct rr__obj {
	/* Fields marked atomic are only accessed with relaxed __atomic builtins:
	 * rr_touch reads them on a thread that may have no ordering with the
	 * thread that allocated or freed the object (that is the bug it reports),
	 * and TSan must blame the scenario's access, not this header. */
	uint64_t magic;         /* atomic: RR__MAGIC_LIVE or RR__MAGIC_FREED */
	const char *freed_by;   /* atomic: role that freed it, once freed */
	const char *name;       /* atomic, set once by rr_alloc */
	const char *alloc_by;   /* atomic, set once by rr_alloc */
	size_t size;            /* atomic, set once by rr_alloc: payload bytes */
	struct rr__obj *next;   /* quarantine FIFO link, under q_lock */
	_Alignas(16) unsigned char payload[];
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rr__obj *q_head; /* oldest */
static struct rr__obj *q_tail;
static size_t q_count;
static size_t q_bytes;

static struct rr__obj *obj_of(const void *p)
{
	return (struct rr__obj *)((uintptr_t)p - offsetof(struct rr__obj, payload));
}

static const char *role_or_unknown(const char *r)
{
	return r ? r : "?";
}

/* rr_role() names a slot of the scheduler's table, which the next iteration
 * reuses; the header keeps the scenario's own string for the role instead. */
static const char *role_stable(void)
{
	const char *r = rr_role();
	const struct rr__run_config *c = rr__ctx.cfg;

	if (c && c->scenario && c->scenario->roles)
		for (const char *const *p = c->scenario->roles; *p; p++)
			if (!strcmp(*p, r))
				return *p;
	return "?";
}

static const char *obj_name(const struct rr__obj *o)
{
	return __atomic_load_n(&o->name, __ATOMIC_RELAXED);
}

static size_t obj_size(const struct rr__obj *o)
{
	return __atomic_load_n(&o->size, __ATOMIC_RELAXED);
}

static const char *obj_alloc_by(const struct rr__obj *o)
{
	return role_or_unknown(__atomic_load_n(&o->alloc_by, __ATOMIC_RELAXED));
}

static const char *obj_freed_by(const struct rr__obj *o)
{
	return role_or_unknown(__atomic_load_n(&o->freed_by, __ATOMIC_RELAXED));
}

void *rr_alloc(size_t size, const char *name)
{
	struct rr__obj *o;

	if (size > SIZE_MAX - sizeof(*o)) {
		rr_env_error(ENOMEM, "rr_alloc(%zu, %s): %s", size, name, strerror(ENOMEM));
		return NULL;
	}
	o = calloc(1, sizeof(*o) + size);
	if (!o) {
		rr_env_error(ENOMEM, "rr_alloc(%zu, %s): %s", size, name, strerror(ENOMEM));
		return NULL;
	}
	__atomic_store_n(&o->name, name ? name : "object", __ATOMIC_RELAXED);
	__atomic_store_n(&o->alloc_by, role_stable(), __ATOMIC_RELAXED);
	__atomic_store_n(&o->size, size, __ATOMIC_RELAXED);
	__atomic_store_n(&o->freed_by, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&o->magic, RR__MAGIC_LIVE, __ATOMIC_RELAXED);
	return o->payload;
}

/* Offset of the first byte of the payload that is not poison, or SIZE_MAX. */
static size_t poison_changed_at(const struct rr__obj *o)
{
	size_t size = obj_size(o);

	for (size_t i = 0; i < size; i++)
		if (o->payload[i] != RR__POISON)
			return i;
	return SIZE_MAX;
}

/* Takes the oldest object out of the quarantine; caller holds q_lock. */
static struct rr__obj *q_pop_locked(void)
{
	struct rr__obj *o = q_head;

	if (!o)
		return NULL;
	q_head = o->next;
	if (!q_head)
		q_tail = NULL;
	q_count--;
	q_bytes -= obj_size(o);
	o->next = NULL;
	return o;
}

/* Checks an object that has left the quarantine and frees it for real. The
 * message is built before the free, then reported. */
static void release_checked(struct rr__obj *o)
{
	size_t at = poison_changed_at(o);

	if (at != SIZE_MAX) {
		char msg[256];
		unsigned char now = o->payload[at];

		snprintf(msg, sizeof(msg),
			 "write into freed %s (%zu bytes, allocated by %s, freed by %s): "
			 "byte %zu is 0x%02x, poison is 0x%02x",
			 obj_name(o), obj_size(o), obj_alloc_by(o), obj_freed_by(o), at, now,
			 RR__POISON);
		RR__HIDE_END();
		rr_bug("%s", msg);
	}
	free(o);
}

static void q_lock_take(void)
{
	int rc;

	RR__HIDE_BEGIN();
	rc = pthread_mutex_lock(&q_lock);
	if (rc) {
		RR__HIDE_END();
		rr__fatal("lifetime: pthread_mutex_lock: %s", strerror(rc));
	}
}

static void q_lock_drop(void)
{
	int rc = pthread_mutex_unlock(&q_lock);

	RR__HIDE_END();
	if (rc)
		rr__fatal("lifetime: pthread_mutex_unlock: %s", strerror(rc));
}

void rr_free(void *p)
{
	struct rr__obj *o;
	uint64_t expect = RR__MAGIC_LIVE;
	size_t size;

	if (!p)
		return;
	o = obj_of(p);
	if (!__atomic_compare_exchange_n(&o->magic, &expect, RR__MAGIC_FREED, 0, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED)) {
		if (expect == RR__MAGIC_FREED)
			rr_bug("double free: %s (%zu bytes, allocated by %s, freed by %s) freed "
			       "again by %s",
			       obj_name(o), obj_size(o), obj_alloc_by(o), obj_freed_by(o), rr_role());
		rr_bug("rr_free(%p) by %s: not an object from rr_alloc", p, rr_role());
	}
	__atomic_store_n(&o->freed_by, role_stable(), __ATOMIC_RELAXED);
	/* Deliberately visible to TSan: this stands for the free's write. */
	size = obj_size(o);
	memset(o->payload, RR__POISON, size);

	if (size > RR__QUARANTINE_BYTES) {
		/* Bigger than the whole quarantine: keep nothing, check now. */
		RR__HIDE_BEGIN();
		release_checked(o);
		RR__HIDE_END();
		return;
	}
	q_lock_take();
	while (q_head && (q_count + 1 > RR__QUARANTINE_MAX ||
			  q_bytes + size > RR__QUARANTINE_BYTES)) {
		struct rr__obj *old = q_pop_locked();

		/* Checked under the lock so that an rr_bug exits with the list
		 * consistent; eviction is rare enough for this not to matter. */
		release_checked(old);
	}
	if (q_tail)
		q_tail->next = o;
	else
		q_head = o;
	q_tail = o;
	q_count++;
	q_bytes += size;
	q_lock_drop();
}

void rr_touch(const void *p, const char *what)
{
	const struct rr__obj *o;

	if (!p)
		return;
	o = obj_of(p);
	if (__atomic_load_n(&o->magic, __ATOMIC_RELAXED) != RR__MAGIC_FREED)
		return;
	rr_bug("heap-use-after-free: %s of %s (%zu bytes, allocated by %s, freed by %s) "
	       "touched by %s",
	       what ? what : "access", obj_name(o), obj_size(o), obj_alloc_by(o), obj_freed_by(o),
	       rr_role());
}

void rr__lifetime_iteration_end(void)
{
	struct rr__obj *o;

	q_lock_take();
	while ((o = q_pop_locked()) != NULL)
		release_checked(o);
	q_lock_drop();
}

#endif /* RR_BUILD_ASAN */
