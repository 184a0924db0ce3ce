/*
 * events.h: reading events.jsonl back (events.c), for `racerepro report`,
 * its --merge and summary.html. The one reader: every line is parsed with
 * jansson, a line that does not parse is skipped and counted.
 */
#ifndef RR_EVENTS_H
#define RR_EVENTS_H

#include <jansson.h>
#include <stdint.h>

/* Calls FN(EV, ARG) for each line of PATH that is a JSON object, in order (EV
 * is borrowed). A line that is not: counted in *BAD (when BAD is not NULL)
 * and, when WHO is not NULL, noted on stderr as "WHO: note: PATH line N is cut
 * short ... / is not valid JSON ...; skipped". FN returning nonzero stops the
 * reading. Returns 0 (or FN's nonzero value), or -errno when PATH cannot be
 * read. */
int rr__events_read(const char *path, const char *who, int *bad,
		    int (*fn)(json_t *ev, void *arg), void *arg);

/* EV's string field KEY, or NULL; its number (integer or real), or DEF. */
const char *rr__ev_str(json_t *ev, const char *key);
double rr__ev_num(json_t *ev, const char *key, double def);
uint64_t rr__ev_u64(json_t *ev, const char *key);

#endif
