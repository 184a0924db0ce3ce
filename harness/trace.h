/*
 * trace.h: the running iteration as the trace sees it (trace.c): which
 * scheduler state is current in this process, which slot the calling thread
 * holds, and the recording of events. sched.c switches them as threads start,
 * run and exit; context.c reads them to name the role of a finding. Below
 * both, so that neither has to call the other back.
 */
#ifndef RR_TRACE_H
#define RR_TRACE_H

#include "rr_internal.h"

extern struct rr__sched *rr__cur;   /* this iteration's scheduler, or NULL */
extern _Thread_local int rr__self;  /* slot of the calling thread, or -1 */

/* Copies at most CAP-1 bytes of SRC and terminates DST. */
void rr__copy_name(char *dst, size_t cap, const char *src);
/* Appends an event of KIND at POINT by the calling thread; NULL when no
 * iteration runs or the trace is full (later events are dropped). */
struct rr__event *rr__trace_add(int kind, const char *point);
/* Forgets the last race point, for rr__pair_hook, at an iteration's start. */
void rr__trace_reset_pairs(void);

#endif
