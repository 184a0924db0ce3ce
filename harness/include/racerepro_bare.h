/*
 * racerepro_bare.h: the scenario API compiled down to plain calls, for the
 * benchmark's baseline (bench/bench.c, make BARE=1). Never shipped; included
 * by racerepro.h at its end when RR_BARE is defined.
 */
#ifndef RACEREPRO_BARE_H
#define RACEREPRO_BARE_H

/* ------------------------------------------------------------------------ */
/* Bare build: make bench's baseline, never shipped                          */
/* ------------------------------------------------------------------------ */

/* scripts/bench.sh compiles the scenario files (only those: the harness
 * defines the real functions) with -DRR_BARE (make BARE=1) to measure the
 * harness's
 * overhead against the bare episode: race points, trace events and fd names
 * vanish, threads are plain pthreads, and the blocking wrappers call straight
 * through to the real call. The rest (parameters, rr_bug, the completion
 * port, timers, rr_work_us, processes, CPU placement with rr_pin_role) stays
 * the harness's, as under `none`. */
#ifdef RR_INTERNAL_H
#error "racerepro_bare.h is for scenario files only: the harness defines the real functions"
#endif
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
struct rr__bare_thread {
	pthread_t t;
};
static inline void rr__bare_event(const char *fmt, ...)
{
	(void)fmt;
}
static inline struct rr_thread *rr__bare_thread_start(const char *role, void *(*fn)(void *),
						      void *arg)
{
	struct rr__bare_thread *t = (struct rr__bare_thread *)malloc(sizeof *t);
	(void)role;
	if (t && pthread_create(&t->t, NULL, fn, arg) != 0) {
		free(t);
		t = NULL;
	}
	return (struct rr_thread *)t;
}
static inline void *rr__bare_thread_join(struct rr_thread *t)
{
	void *ret = NULL;
	pthread_join(((struct rr__bare_thread *)t)->t, &ret);
	free(t);
	return ret;
}
static inline void rr__bare_sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
#define rr_point(name) ((void)(name))
#define rr_point_on(name, obj) ((void)(name), (void)(obj))
#define rr_event rr__bare_event
#define rr_fd_name(fd, name) ((void)(fd), (void)(name))
#define rr_thread_start rr__bare_thread_start
#define rr_thread_join rr__bare_thread_join
#define rr_mutex_init(mx, nm) ((void)(nm), (void)pthread_mutex_init(&(mx)->m, NULL))
#define rr_mutex_destroy(mx) ((void)pthread_mutex_destroy(&(mx)->m))
#define rr_mutex_lock(mx) ((void)pthread_mutex_lock(&(mx)->m))
#define rr_mutex_unlock(mx) ((void)pthread_mutex_unlock(&(mx)->m))
#define rr_cond_init(cv, nm) ((void)(nm), (void)pthread_cond_init(&(cv)->c, NULL))
#define rr_cond_destroy(cv) ((void)pthread_cond_destroy(&(cv)->c))
#define rr_cond_wait(cv, mx) ((void)pthread_cond_wait(&(cv)->c, &(mx)->m))
#define rr_cond_signal(cv) ((void)pthread_cond_signal(&(cv)->c))
#define rr_cond_broadcast(cv) ((void)pthread_cond_broadcast(&(cv)->c))
#define rr_poll poll
#define rr_read read
#define rr_write write
#define rr_recv recv
#define rr_send send
#define rr_recvfrom recvfrom
#define rr_sendto sendto
#define rr_close close
#define rr_sleep_ns rr__bare_sleep_ns
#define rr_alloc(size, name) ((void)(name), calloc(1, (size)))
#define rr_free free
#define rr_touch(p, what) ((void)(p), (void)(what))

#endif /* RACEREPRO_BARE_H */
