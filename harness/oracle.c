/*
 * oracle.c: how an iteration ended. The worker's exit status says which
 * channel reported (see RR_WEXIT_*); the shared status and the sanitizer log
 * say what. Each failure gets a signature, its class plus the scenario's label
 * or the top frames of the report, so that a soak counts distinct failures,
 * not repeats.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "evidence.h"

/* Frames that say nothing about the scenario: the sanitizer runtime, libc,
 * the harness's own allocator wrappers, racerepro cc's __wrap_free and
 * __wrap__Zdl... (exec mode's free points). */
static int boring_frame(const char *fn)
{
	static const char *const prefixes[] = {"__interceptor", "__asan", "__tsan", "__sanitizer",
					       "__ubsan", "___interceptor", "malloc", "calloc",
					       "free", "realloc", "memcpy", "memset", "memmove",
					       "operator", "__libc", "__GI", "rr_alloc", "rr_free", "rr__rt_",
					       "__wrap_", "_start", "start_thread", "clone", NULL};
	for (int i = 0; prefixes[i]; i++)
		if (!strncmp(fn, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

/* The function name of a sanitizer stack line ("    #0 0x4a in fn file:1"
 * or "    #0 fn file:1 (bin+0x4a)"), or 0. */
static int frame_function(const char *line, char *fn, size_t cap)
{
	const char *p = line;
	while (*p == ' ')
		p++;
	if (*p != '#' || !isdigit((unsigned char)p[1]))
		return 0;
	p = strchr(p, ' ');
	if (!p)
		return 0;
	p++;
	if (!strncmp(p, "0x", 2)) {
		const char *in = strstr(p, " in ");
		if (!in)
			return 0;
		p = in + 4;
	}
	size_t n = 0;
	while (p[n] && p[n] != ' ' && p[n] != '\n' && n + 1 < cap)
		n++;
	memcpy(fn, p, n);
	fn[n] = '\0';
	/* An unsymbolized frame (TSan prints "<null>") names nothing. */
	return n > 0 && strcmp(fn, "<null>") != 0;
}

/* Parses the first report in LOG into a signature and a message. */
static int parse_sanitizer(const char *log, char *sig, size_t sigcap, char *msg, size_t msgcap)
{
	const char *head = NULL, *tool = NULL, *kind = NULL;
	static const struct {
		const char *marker, *tool;
	} markers[] = {{"ERROR: AddressSanitizer: ", "asan"},
		       {"WARNING: ThreadSanitizer: ", "tsan"},
		       {"ERROR: LeakSanitizer: ", "lsan"},
		       {"ERROR: ThreadSanitizer: ", "tsan"},
		       {"runtime error: ", "ubsan"}};
	for (size_t i = 0; i < sizeof markers / sizeof markers[0]; i++) {
		const char *p = log ? strstr(log, markers[i].marker) : NULL;
		if (p && (!head || p < head)) {
			head = p;
			tool = markers[i].tool;
			kind = p + strlen(markers[i].marker);
		}
	}
	if (!head)
		return 0;
	size_t klen = strcspn(kind, "\n");
	const char *on = strstr(kind, " on ");
	if (on && (size_t)(on - kind) < klen)
		klen = (size_t)(on - kind);
	const char *paren = strstr(kind, " (");
	if (paren && (size_t)(paren - kind) < klen)
		klen = (size_t)(paren - kind);
	if (klen > 80)
		klen = 80;
	/* The first two interesting frames of the first stack. */
	char frames[2][128] = {"", ""};
	int nf = 0;
	for (const char *nl = strchr(head, '\n'); nl && nf < 2; nl = strchr(nl + 1, '\n')) {
		char fn[128];
		if (frame_function(nl + 1, fn, sizeof fn) && !boring_frame(fn))
			snprintf(frames[nf++], sizeof frames[0], "%s", fn);
	}
	snprintf(sig, sigcap, "sanitizer:%s:%.*s:%s%s%s", tool, (int)klen, kind, frames[0],
		 nf > 1 ? "<" : "", frames[1]);
	size_t hlen = strcspn(head, "\n");
	snprintf(msg, msgcap, "%.*s%s%s", (int)(hlen > 300 ? 300 : hlen), head,
		 nf ? " in " : "", frames[0]);
	return 1;
}

static void last_points(const struct rr__worker_shm *w, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	const struct rr__sched *s = &w->sched;
	for (int i = 0; i < s->nslots && i < RR_MAX_THREADS && len < cap; i++) {
		const struct rr__slot *sl = &s->slots[i];
		if (sl->state == RR_SLOT_EXITED)
			continue;
		len += (size_t)snprintf(buf + len, cap - len, "%s%s at %s", len ? "; " : "",
					sl->role, sl->last_point[0] ? sl->last_point : "start");
		if (sl->state == RR_SLOT_PARKED && len < cap)
			len += (size_t)snprintf(buf + len, cap - len, " (waiting on %s)",
						sl->waiting_on);
	}
}

int rr__classify(int wstatus, int watchdog, const struct rr__worker_shm *w, const char *san_log,
		 char *sig, size_t sigcap, char *msg, size_t msgcap)
{
	int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	int finding = __atomic_load_n(&w->finding, __ATOMIC_SEQ_CST);
	char where[RR_MSG];
	if (watchdog) {
		last_points(w, where, sizeof where);
		snprintf(sig, sigcap, "hang:watchdog");
		if (__atomic_load_n(&w->state, __ATOMIC_SEQ_CST) == RR_W_STARTING)
			snprintf(msg, msgcap, "setup did not finish in time");
		else
			snprintf(msg, msgcap, "iteration %llu did not finish in time: %s",
				 (unsigned long long)rr__iteration_number(w->iter_index),
				 where[0] ? where : "in setup");
		return RR_HANG;
	}
	if (code == RR_WEXIT_SANITIZER || (san_log && parse_sanitizer(san_log, sig, sigcap, msg, msgcap))) {
		if (!parse_sanitizer(san_log, sig, sigcap, msg, msgcap)) {
			snprintf(sig, sigcap, "sanitizer:unknown");
			snprintf(msg, msgcap, "the worker exited with the sanitizer code but left no report");
		}
		return RR_SANITIZER;
	}
	if (code == RR_WEXIT_BUG && finding == RR_BUG) {
		snprintf(sig, sigcap, "bug:%s", w->message);
		/* Addresses and pids differ between runs; the failure does not. */
		for (char *p = sig; (p = strstr(p, "0x"));) {
			char *q = p + 2;
			while (isxdigit((unsigned char)*q))
				q++;
			if (q - p > 4) {
				memmove(p + 4, q, strlen(q) + 1);
				memcpy(p, "ADDR", 4);
			}
			p += 2;
		}
		snprintf(msg, msgcap, "%s (in %s)", w->message, w->finding_role);
		return RR_BUG;
	}
	if (code == RR_WEXIT_HANG) {
		snprintf(sig, sigcap, "hang:deadlock");
		snprintf(msg, msgcap, "%s", w->message);
		return RR_HANG;
	}
	if (code == RR_WEXIT_ERROR || code == RR_WEXIT_SKIP) {
		snprintf(sig, sigcap, "error:%.200s", w->message[0] ? w->message : "harness error");
		snprintf(msg, msgcap, "%s", w->message[0] ? w->message : "harness error");
		return RR_ERROR;
	}
	if (WIFSIGNALED(wstatus)) {
		int signo = WTERMSIG(wstatus);
		const char *name = sigabbrev_np(signo);
		last_points(w, where, sizeof where);
		snprintf(sig, sigcap, "crash:SIG%s", name ? name : "?");
		snprintf(msg, msgcap, "the worker died of SIG%s (%s) during iteration %llu: %s",
			 name ? name : "?", strsignal(signo),
			 (unsigned long long)rr__iteration_number(w->iter_index),
			 where);
		return RR_CRASH;
	}
	snprintf(sig, sigcap, "crash:exit%d", code);
	snprintf(msg, msgcap, "the worker exited with unexpected status %d", code);
	return RR_CRASH;
}

/* A file-name-safe form of a signature, with a hash so that two signatures
 * that differ only past the cut stay apart. */
void rr__slug(const char *sig, char *out, size_t cap)
{
	uint32_t h = 2166136261u;
	for (const char *p = sig; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	size_t n = 0;
	int dash = 0;
	for (const char *p = sig; *p && n + 10 < cap && n < 48; p++) {
		if (isalnum((unsigned char)*p)) {
			out[n++] = *p;
			dash = 0;
		} else if (!dash && n) {
			out[n++] = '-';
			dash = 1;
		}
	}
	snprintf(out + n, cap - n, "%s%08x", dash ? "" : "-", h);
}
