/*
 * trace.c: the per-iteration event log and its readable form. The scheduler
 * appends (thread, point) events and notes of what happened there; this file
 * turns them into the table `explain` prints and the sequence `replay
 * --check` compares.
 */
#include <stdio.h>
#include <string.h>

#include "rr_internal.h"

static uint32_t nevents(const struct rr__sched *s)
{
	return s->nevents < RR_MAX_EVENTS ? s->nevents : RR_MAX_EVENTS;
}

uint64_t rr__trace_hash(const struct rr__sched *s)
{
	uint64_t h = 1469598103934665603ull;
	for (uint32_t i = 0; i < nevents(s); i++) {
		const struct rr__event *e = &s->events[i];
		if (e->kind == RR_EV_NOTE)
			continue;
		h = (h ^ (uint64_t)(e->thread + 1)) * 1099511628211ull;
		for (const char *p = e->point; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
	}
	return h;
}

long rr__trace_diverge(const struct rr__sched *a, const struct rr__sched *b)
{
	uint32_t i = 0, j = 0, na = nevents(a), nb = nevents(b);
	long step = 0;
	for (;;) {
		while (i < na && a->events[i].kind == RR_EV_NOTE)
			i++;
		while (j < nb && b->events[j].kind == RR_EV_NOTE)
			j++;
		if (i == na || j == nb)
			return (i == na && j == nb) ? -1 : step;
		if (a->events[i].thread != b->events[j].thread ||
		    strcmp(a->events[i].point, b->events[j].point))
			return step;
		i++;
		j++;
		step++;
	}
}

struct row {
	const char *point;
	int thread;
	int marked;
	char what[160];
};

/* Steps that change shared state in a way a failure can hinge on. */
static int consequential(const char *what)
{
	static const char *const words[] = {"closed", "freed", "failed", "BUG", "write", "destroy",
					    "cancel", "started", "virtual clock", NULL};
	for (int i = 0; words[i]; i++)
		if (strstr(what, words[i]))
			return 1;
	return 0;
}

int rr__trace_print(FILE *f, const struct rr__sched *s, const char *failure, int max_lines)
{
	static struct row rows[RR_MAX_EVENTS];
	int n = 0;
	for (uint32_t i = 0; i < nevents(s); i++) {
		const struct rr__event *e = &s->events[i];
		if (e->kind == RR_EV_SWITCH)
			continue;
		if (e->kind == RR_EV_NOTE && n > 0 && rows[n - 1].thread == e->thread &&
		    strlen(rows[n - 1].what) + strlen(e->detail) + 3 < sizeof rows[0].what) {
			char *what = rows[n - 1].what;
			size_t len = strlen(what);
			snprintf(what + len, sizeof rows[0].what - len, "%s%s", len ? "; " : "",
				 e->detail);
			continue;
		}
		rows[n].thread = e->thread;
		rows[n].point = e->point;
		snprintf(rows[n].what, sizeof rows[n].what, "%s", e->detail);
		n++;
	}
	for (int i = 0; i < n; i++)
		rows[i].marked = consequential(rows[i].what) || (i == n - 1 && failure);
	/* Which rows to show: all when they fit; otherwise the consequential
	 * ones and those where the thread changes, dropping the oldest until
	 * the rows, the elision lines and the header fit in MAX_LINES. */
	static unsigned char show[RR_MAX_EVENTS];
	for (int i = 0; i < n; i++)
		show[i] = max_lines <= 0 || n + 1 <= max_lines || rows[i].marked ||
			  (i && rows[i].thread != rows[i - 1].thread) || i == n - 1;
	for (int from = 0; max_lines > 0; from++) {
		int lines = 1, gap = 0;
		for (int i = 0; i < n; i++) {
			if (!show[i]) {
				gap = 1;
				continue;
			}
			lines += 1 + gap;
			gap = 0;
		}
		lines += gap;
		if (lines <= max_lines || from >= n - 1)
			break;
		show[from] = 0;
	}
	int lines = 0, skipped = 0;
	fprintf(f, "  %-5s %-10s %-28s %s\n", "step", "thread", "race point", "what happened");
	lines++;
	for (int i = 0; i < n; i++) {
		if (!show[i]) {
			skipped++;
			continue;
		}
		if (skipped) {
			fprintf(f, "  %5s %-10s (%d uneventful steps not shown)\n", "...", "", skipped);
			lines++;
			skipped = 0;
		}
		int t = rows[i].thread;
		const char *role = t >= 0 && t < RR_MAX_THREADS ? s->slots[t].role : "?";
		fprintf(f, "%c %5d %-10s %-28s %s\n", rows[i].marked ? '*' : ' ', i + 1, role,
			rows[i].point, rows[i].what);
		lines++;
	}
	if (skipped) {
		fprintf(f, "  %5s %-10s (%d uneventful steps not shown)\n", "...", "", skipped);
		lines++;
	}
	return lines;
}
