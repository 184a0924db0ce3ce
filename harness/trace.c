/*
 * trace.c: the per-iteration event log and its readable form. The scheduler
 * appends (thread, point) events and notes of what happened there; this file
 * records them against the running iteration (trace.h) and turns them into
 * the table `explain` prints and the sequence `replay --check` compares.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"

static uint32_t nevents(const struct rr__sched *s)
{
	return s->nevents < RR_MAX_EVENTS ? s->nevents : RR_MAX_EVENTS;
}

/* ---- recording ---------------------------------------------------------- */

struct rr__sched *rr__cur;
_Thread_local int rr__self = -1;
void (*rr__pair_hook)(uint32_t prev_point, uint32_t point);

int rr__sched_self(void)
{
	return rr__self;
}

void rr__copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The last race point taken and by whom, for rr__pair_hook. Per process:
 * under a controlled strategy only one thread runs at a time; under a free
 * one the pairs are approximate, which is all feedback needs. */
static int last_point_thread = -1;
static uint32_t last_point_hash;

static void feed_pair(const char *point)
{
	uint32_t h = name_hash(point);
	int prev = __atomic_exchange_n(&last_point_thread, rr__self, __ATOMIC_RELAXED);
	uint32_t prev_hash = __atomic_exchange_n(&last_point_hash, h, __ATOMIC_RELAXED);
	if (prev >= 0 && prev != rr__self)
		rr__pair_hook(prev_hash, h);
}

struct rr__event *rr__trace_add(int kind, const char *point)
{
	if (!rr__cur)
		return NULL;
	if (rr__pair_hook && kind == RR_EV_POINT)
		feed_pair(point);
	uint32_t i = __atomic_fetch_add(&rr__cur->nevents, 1, __ATOMIC_RELAXED);
	if (i >= RR_MAX_EVENTS)
		return NULL;
	struct rr__event *e = &rr__cur->events[i];
	e->step = i;
	e->thread = (int16_t)rr__self;
	e->kind = (int16_t)kind;
	rr__copy_name(e->point, sizeof e->point, point ? point : "");
	e->detail[0] = '\0';
	return e;
}

static void trace_vnote(const char *point, const char *fmt, va_list ap)
{
	struct rr__event *e = rr__trace_add(RR_EV_NOTE, point);
	if (e)
		vsnprintf(e->detail, sizeof e->detail, fmt, ap);
}

void rr__trace_note(const char *point, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	trace_vnote(point, fmt, ap);
	va_end(ap);
}

void rr_event(const char *fmt, ...)
{
	if (!rr__cur || rr__self < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	trace_vnote(rr__cur->slots[rr__self].last_point, fmt, ap);
	va_end(ap);
}

const char *rr_role(void)
{
	if (!rr__cur || rr__self < 0)
		return "?";
	return rr__cur->slots[rr__self].role;
}

void rr__trace_reset_pairs(void)
{
	last_point_thread = -1;
}

/* ---- reading ------------------------------------------------------------ */

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
	int finding; /* the failure is printed here, whole */
	char preempts[RR_NAME]; /* the role this step's thread preempted, if any */
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

static int word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Does TEXT contain WORD (LEN bytes) as a whole word? */
static int has_word(const char *text, const char *word, size_t len)
{
	for (const char *p = text; (p = strstr(p, word)); p++) {
		char before = p == text ? ' ' : p[-1], after = p[len];
		char w[64];
		snprintf(w, sizeof w, "%.*s", (int)len, word);
		if (strncmp(p, w, len))
			continue;
		if (!word_char(before) && !word_char(after))
			return 1;
	}
	return 0;
}

/* Does this step touch an object the failure names? The failure message
 * names the objects it is about (m_post_fd, tls_conn, the timer list); a step
 * that did something to one of them is one the failure depends on. Generic
 * words of the messages themselves do not count. */
static int touches_failure_object(const char *what, const char *failure)
{
	static const char *const generic[] = {
		"BUG",	 "bug",	   "the",     "and",	   "with",    "for",   "from",	"into",
		"bytes", "failed", "Bad",     "bad",	   "file",    "descriptor", "write",
		"read",	 "closed", "close",   "freed",	   "free",    "use",   "after", "heap",
		"allocated", "touched", "by",  "of",	   "in",      "on",    "not",	"was",
		"while", "still",  "error",   "errno",	   "buffer",  "main",  NULL};
	if (!failure)
		return 0;
	for (const char *p = failure; *p;) {
		while (*p && !word_char(*p))
			p++;
		const char *w = p;
		while (*p && word_char(*p))
			p++;
		size_t len = (size_t)(p - w);
		if (len < 3 || len >= 64 || (w[0] >= '0' && w[0] <= '9'))
			continue;
		int skip = 0;
		for (int i = 0; generic[i] && !skip; i++)
			skip = strlen(generic[i]) == len && !strncmp(generic[i], w, len);
		if (!skip && has_word(what, w, len))
			return 1;
	}
	return 0;
}

int rr__trace_print(FILE *f, const struct rr__sched *s, const char *failure, int max_lines)
{
	static struct row rows[RR_MAX_EVENTS];
	int n = 0, bug_note = 0;
	const char *preempted = NULL;
	for (uint32_t i = 0; i < nevents(s); i++) {
		const struct rr__event *e = &s->events[i];
		if (e->kind == RR_EV_SWITCH) {
			/* "a -> b (preemption)": the next step of b preempted a. */
			if (strstr(e->detail, "(preemption)")) {
				int t = e->thread;
				preempted = t >= 0 && t < RR_MAX_THREADS ? s->slots[t].role : "?";
			}
			continue;
		}
		/* The failure is printed whole on its row (the note is a copy
		 * cut to the size of an event). */
		int is_bug = failure && e->kind == RR_EV_NOTE && !strncmp(e->detail, "BUG: ", 5);
		if (e->kind == RR_EV_NOTE && n > 0 && rows[n - 1].thread == e->thread &&
		    (is_bug ||
		     strlen(rows[n - 1].what) + strlen(e->detail) + 3 < sizeof rows[0].what)) {
			char *what = rows[n - 1].what;
			size_t len = strlen(what);
			if (is_bug)
				rows[n - 1].finding = bug_note = 1;
			else
				snprintf(what + len, sizeof rows[0].what - len, "%s%s",
					 len ? "; " : "", e->detail);
			continue;
		}
		rows[n].thread = e->thread;
		rows[n].point = e->point;
		rows[n].finding = is_bug;
		bug_note |= is_bug;
		rows[n].preempts[0] = '\0';
		if (preempted)
			snprintf(rows[n].preempts, sizeof rows[n].preempts, "%s", preempted);
		preempted = NULL;
		snprintf(rows[n].what, sizeof rows[n].what, "%s", is_bug ? "" : e->detail);
		n++;
	}
	if (failure && !bug_note && n > 0) /* a crash or a sanitizer: the last step */
		rows[n - 1].finding = 1;
	/* Marked: a preemption (the schedule's choice that made the failure
	 * possible), a step that changes shared state, a step on an object the
	 * failure names, and the failing step. */
	for (int i = 0; i < n; i++)
		rows[i].marked = rows[i].preempts[0] || consequential(rows[i].what) ||
				 touches_failure_object(rows[i].what, failure) || rows[i].finding;
	/* Which rows to show: all when they fit; otherwise the marked ones and
	 * those where the thread changes, dropping the oldest unmarked rows
	 * until the rows, the elision lines and the header fit in MAX_LINES.
	 * A marked row is never dropped, even if the table then runs longer. */
	static unsigned char show[RR_MAX_EVENTS];
	for (int i = 0; i < n; i++)
		show[i] = max_lines <= 0 || n + 1 <= max_lines || rows[i].marked ||
			  (i && rows[i].thread != rows[i - 1].thread) || i == n - 1;
	
	for (int from = 0; max_lines > 0 && from < n; from++) {
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
		if (lines <= max_lines)
			break;
		if (!rows[from].marked && from != n - 1)
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
		fprintf(f, "%c %5d %-10s %-28s ", rows[i].marked ? '*' : ' ', i + 1, role,
			rows[i].point);
		if (rows[i].preempts[0])
			fprintf(f, "[preempts %s]%s", rows[i].preempts, rows[i].what[0] ? " " : "");
		fputs(rows[i].what, f);
		if (rows[i].finding)
			fprintf(f, "%s%s%s", rows[i].what[0] ? "; " : "", bug_note ? "BUG: " : "finding: ",
				failure);
		fputc('\n', f);
		lines++;
	}
	if (skipped) {
		fprintf(f, "  %5s %-10s (%d uneventful steps not shown)\n", "...", "", skipped);
		lines++;
	}
	return lines;
}
