/*
 * report.c: what a run leaves behind, and the progress line.
 *
 *   events.jsonl   one JSON object per line, written with one write(2) each
 *                  as the run goes, so a killed run loses nothing written
 *   summary.json   the cells, their outcomes, signatures and verdicts
 *   summary.md     the same for people
 *   junit.xml      one test case per scenario and variant
 *   failures/      one folder per signature (written by evidence.c)
 *
 * The emitters are small and write only; whatever reads these files back
 * uses jansson (see report_rebuild.c, `racerepro report`), and the tests check
 * every file with independent parsers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "report.h"

char *rr__json_escape(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && n + 8 < cap; p++) {
		switch (*p) {
		case '"':
			n += (size_t)snprintf(out + n, cap - n, "\\\"");
			break;
		case '\\':
			n += (size_t)snprintf(out + n, cap - n, "\\\\");
			break;
		case '\n':
			n += (size_t)snprintf(out + n, cap - n, "\\n");
			break;
		case '\t':
			n += (size_t)snprintf(out + n, cap - n, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *p);
			else
				out[n++] = (char)*p;
		}
	}
	/* Never cut inside a UTF-8 sequence. */
	while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
		n--;
	if (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0xc0)
		n--;
	out[n] = '\0';
	return out;
}

void rr__xml_escape(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			if (*p < 0x20 && *p != '\n' && *p != '\t')
				fputc('?', f);
			else
				fputc(*p, f);
		}
	}
}

void rr__report_write_error(struct rr__run *run, const char *what, int err)
{
	if (!run->write_failed)
		fprintf(stderr,
			"racerepro: cannot write %s: %s; free space or pick another folder with "
			"--out DIR (what was written so far is kept)\n",
			what, strerror(err));
	run->write_failed = 1;
}

static void report_error(struct rr__run *run, const char *what, int err)
{
	rr__report_write_error(run, what, err);
}

/* Space held for events.jsonl beyond its end. A full disk must not lose a
 * finding that the terminal reports: when the free space runs out the run
 * stops, and what it still has to log (failure lines, cell ends, the end
 * line) goes into this reserve. Ordinary progress lines keep
 * RR_EVENTS_EMERGENCY of it free for them. */
#define RR_EVENTS_RESERVE (32u << 10)
#define RR_EVENTS_EMERGENCY (16u << 10)

static int reserve_events(struct rr__run *run)
{
	int rc = fallocate(run->events_fd, FALLOC_FL_KEEP_SIZE, (off_t)run->events_size,
			   RR_EVENTS_RESERVE);
	if (rc == 0) {
		run->events_reserved = run->events_size + RR_EVENTS_RESERVE;
		return 0;
	}
	if (errno == EOPNOTSUPP || errno == ENOSYS) {
		run->events_reserved = UINT64_MAX; /* no reserve here: as before */
		return 0;
	}
	return -errno;
}

/* ESSENTIAL lines (findings, cell ends, the end) are written even after the
 * disk filled; the others stop with the first write error. */
static void write_line(struct rr__run *run, const char *line, int essential)
{
	if (run->events_fd < 0 || (run->write_failed && !essential))
		return;
	size_t len = strlen(line);
	if (!essential && run->events_size + len + RR_EVENTS_EMERGENCY > run->events_reserved) {
		int rc = reserve_events(run);
		if (rc < 0) {
			report_error(run, "events.jsonl", -rc);
			return;
		}
	}
	ssize_t n = write(run->events_fd, line, len);
	if (n != (ssize_t)len) {
		/* A partial line would make the file unparseable: cut it back. */
		if (n > 0) {
			off_t end = lseek(run->events_fd, 0, SEEK_END);
			if (end >= n && ftruncate(run->events_fd, end - n) < 0)
				n = -1;
		}
		report_error(run, "events.jsonl", n < 0 ? errno : ENOSPC);
		return;
	}
	run->events_size += len;
}

static double now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void iso_time(double t, char *buf, size_t cap)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* mkdir -p: --out may name a folder whose parents do not exist yet. */
static int make_dirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -1 : 0;
}

int rr__report_open(struct rr__run *run, const char *dir, int argc, char **argv)
{
	run->started_ns = rr__mono_ns();
	run->started_wall = now_wall();
	run->events_fd = -1;
	size_t len = 0;
	for (int i = 0; i < argc && len < sizeof run->command - 2; i++)
		len += (size_t)snprintf(run->command + len, sizeof run->command - len, "%s%s",
					i ? " " : "", argv[i]);
	snprintf(run->self_path, sizeof run->self_path, "%s",
		 strchr(argv[0], '/') ? argv[0] : "racerepro");
	char stamp[32];
	time_t t = (time_t)run->started_wall;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
	snprintf(run->run_id, sizeof run->run_id, "%s-%s-%d", stamp, argv[1], (int)getpid());
	if (dir) {
		snprintf(run->dir, sizeof run->dir, "%s", dir);
		if (make_dirs(run->dir, 0700) < 0) {
			fprintf(stderr, "racerepro: cannot make report folder %s: %s; pass --out DIR\n",
				run->dir, strerror(errno));
			return -1;
		}
	} else {
		if (mkdir("reports", 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "racerepro: cannot make reports/: %s; pass --out DIR\n",
				strerror(errno));
			return -1;
		}
		/* The id is only likely to be unique: two runs in two PID namespaces
		 * sharing this folder can be pid 1 in the same second. mkdir is the
		 * arbiter: whoever makes the folder owns the id, the other takes a
		 * new one with a random suffix. */
		for (int attempt = 0;; attempt++) {
			snprintf(run->dir, sizeof run->dir, "reports/%s", run->run_id);
			if (mkdir(run->dir, 0700) == 0)
				break;
			if (errno != EEXIST || attempt == 100) {
				fprintf(stderr,
					"racerepro: cannot make report folder %s: %s; pass --out DIR\n",
					run->dir, strerror(errno));
				return -1;
			}
			uint32_t r;
			if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
				r = (uint32_t)rr__mono_ns() ^ (uint32_t)attempt;
			snprintf(run->run_id, sizeof run->run_id, "%s-%s-%d-%08x", stamp, argv[1],
				 (int)getpid(), r);
		}
	}
	/* The workers/ folders of killed runs beside this one (sweep.c). */
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", run->dir);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	rr__sweep_workers(slash ? (parent[0] ? parent : "/") : ".");
	if (!dir) {
		unlink("reports/latest.tmp");
		if (symlink(run->run_id, "reports/latest.tmp") == 0)
			rename("reports/latest.tmp", "reports/latest");
	}
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/events.jsonl", run->dir);
	run->events_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (run->events_fd >= 0 && fchmod(run->events_fd, 0600) < 0) {
		close(run->events_fd);
		run->events_fd = -1;
	}
	if (run->events_fd < 0) {
		fprintf(stderr, "racerepro: cannot create %s: %s; pass --out DIR\n", path,
			strerror(errno));
		return -1;
	}
	char when[32], cmd[4096];
	iso_time(run->started_wall, when, sizeof when);
	char line[8192];
	snprintf(line, sizeof line,
		 "{\"event\":\"start\",\"run_id\":\"%s\",\"time\":\"%s\",\"build\":\"%s\","
		 "\"command\":\"%s\"}\n",
		 run->run_id, when, RR_BUILD_NAME, rr__json_escape(run->command, cmd, sizeof cmd));
	/* A run that cannot even log its start (a full disk) does not start. */
	struct stat st;
	run->events_size = fstat(run->events_fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	int rc = reserve_events(run);
	if (rc == 0)
		write_line(run, line, 1);
	if (rc < 0 || run->write_failed) {
		if (rc < 0)
			fprintf(stderr,
				"racerepro: cannot start: no room for events.jsonl in %s: %s; free "
				"space or pick another folder with --out DIR\n",
				run->dir, strerror(-rc));
		close(run->events_fd);
		run->events_fd = -1;
		if (!run->events_size) {
			unlink(path);
			rmdir(run->dir);
		}
		return -1;
	}
	return 0;
}

static void report_event(struct rr__run *run, const char *json_fields, int essential)
{
	static char line[RR_EVENT_MAX + 64];
	snprintf(line, sizeof line, "{%s,\"t\":%.3f}\n", json_fields,
		 (double)(rr__mono_ns() - run->started_ns) / 1e9);
	write_line(run, line, essential);
}

void rr__report_event(struct rr__run *run, const char *json_fields)
{
	report_event(run, json_fields, 0);
}

static void replay_command(const struct rr__run *run, const struct rr__signature *s, char *buf,
			   size_t cap)
{
	snprintf(buf, cap, "%s replay %s/%s/failure.repro", run->self_path, run->dir, s->dir);
}

static void fmt_clock(double s, char *buf, size_t cap)
{
	long t = (long)s;
	if (t >= 3600)
		snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, cap, "%02ld:%02ld", t / 60, t % 60);
}

static uint64_t failures_of(const struct rr__cell *c)
{
	return c->counts[RR_BUG] + c->counts[RR_SANITIZER] + c->counts[RR_CRASH] +
	       c->counts[RR_HANG];
}

/* Appends a JSON member list to OUT (CAP bytes): the cell's state as the
 * summary needs it. Every progress, cell_end and failure line carries it, so
 * the last line of a cell is its state, whichever kind that line is. */
static void cell_fields(char *out, size_t cap, const struct rr__cell *cell)
{
	double rate = cell->elapsed_s > 0 ? (double)cell->iterations / cell->elapsed_s : 0;
	size_t n = (size_t)snprintf(out, cap,
				    "\"iterations\":%" PRIu64 ",\"failures\":%" PRIu64
				    ",\"errors\":%" PRIu64 ",\"elapsed_s\":%.3f,\"rate\":%.1f,"
				    "\"outcomes\":{",
				    cell->iterations, failures_of(cell), cell->counts[RR_ERROR],
				    cell->elapsed_s, rate);
	for (int k = 0; k < RR_NOUTCOMES && n < cap; k++)
		n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%" PRIu64, k ? "," : "",
				      rr__outcome_names[k], cell->counts[k]);
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, "},\"by_strategy\":{");
	for (int k = 0, first = 1; k < RR_NSTRATEGIES && n < cap; k++) {
		if (!cell->strat_iterations[k])
			continue;
		n += (size_t)snprintf(out + n, cap - n,
				      "%s\"%s\":{\"iterations\":%" PRIu64 ",\"failures\":%" PRIu64 "}",
				      first ? "" : ",", rr__strategy_names[k], cell->strat_iterations[k],
				      cell->strat_failures[k]);
		first = 0;
	}
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, "},\"env\":{");
	for (int k = 0; k < cell->nnotes && n < cap; k++) {
		char key[300], val[300];
		n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":\"%s\"", k ? "," : "",
				      rr__json_escape(cell->notes[k][0], key, sizeof key),
				      rr__json_escape(cell->notes[k][1], val, sizeof val));
	}
	/* Each signature's exact count: the failure lines themselves thin out
	 * (counts 1..20, then powers of two). */
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, "},\"signatures\":{");
	for (int k = 0; k < cell->nsigs && n < cap; k++) {
		char sig[600];
		n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%" PRIu64, k ? "," : "",
				      rr__json_escape(cell->sigs[k].sig, sig, sizeof sig),
				      cell->sigs[k].count);
	}
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, "}");
	if (cell->skipped && n < cap) {
		char why[600];
		n += (size_t)snprintf(out + n, cap - n, ",\"skipped\":true,\"skip_reason\":\"%s\"",
				      rr__json_escape(cell->skip_reason, why, sizeof why));
	}
	if (cell->interrupted && n < cap)
		n += (size_t)snprintf(out + n, cap - n, ",\"interrupted\":true");
	if (cell->has_failure && n < cap)
		snprintf(out + n, cap - n,
			 ",\"first_failure\":{\"iteration\":%" PRIu64 ",\"seconds\":%.4f}",
			 cell->first_failure_iteration, cell->first_failure_s);
}

void rr__report_failure(struct rr__run *run, const struct rr__cell *cell,
			const struct rr__signature *s, uint64_t iteration, const char *strategy,
			uint64_t seed, int is_new)
{
	static char fields[RR_EVENT_MAX];
	char sig[600], msg[1200], role[64], replay[PATH_MAX * 2], rep[PATH_MAX * 3];
	replay_command(run, s, replay, sizeof replay);
	size_t n = (size_t)snprintf(
		fields, sizeof fields,
		"\"event\":\"failure\",\"scenario\":\"%s\",\"variant\":\"%s\",\"class\":\"%s\","
		"\"signature\":\"%s\",\"message\":\"%s\",\"role\":\"%s\",\"new\":%s,\"count\":%" PRIu64
		",\"iteration\":%" PRIu64 ",\"first_iteration\":%" PRIu64 ",\"first_seconds\":%.4f,"
		"\"strategy\":\"%s\",\"seed\":\"0x%016" PRIx64 "\",\"repro\":\"%s/failure.repro\","
		"\"replay\":\"%s\",",
		cell->scenario->name, cell->variant->name, rr__outcome_names[s->klass],
		rr__json_escape(s->sig, sig, sizeof sig), rr__json_escape(s->message, msg, sizeof msg),
		rr__json_escape(s->role, role, sizeof role), is_new ? "true" : "false", s->count,
		iteration, s->first_iteration, s->first_s, strategy, seed, s->dir,
		rr__json_escape(replay, rep, sizeof rep));
	if (n < sizeof fields)
		cell_fields(fields + n, sizeof fields - n, cell);
	report_event(run, fields, 1); /* a finding: never lost to a full disk */
}

/* Set by cli.c: the cell's planned duration, for "remaining". */
double rr__progress_planned_s;

void rr__report_progress(struct rr__run *run, const struct rr__cell *cell, int final)
{
	static int tty = -1;
	static uint64_t last_event_ns;
	if (tty < 0)
		tty = isatty(2);
	double el = cell->elapsed_s;
	double rate = el > 0 ? (double)cell->iterations / el : 0;
	char e[32], left[48] = "";
	fmt_clock(el, e, sizeof e);
	if (rr__progress_planned_s > 0 && !final) {
		char r[32];
		fmt_clock(rr__progress_planned_s > el ? rr__progress_planned_s - el : 0, r, sizeof r);
		snprintf(left, sizeof left, ", %s left", r);
	}
	char line[512];
	snprintf(line, sizeof line,
		 "%s/%s [%s]: %" PRIu64 " iterations, %.0f/s, %" PRIu64 " failures, %" PRIu64
		 " errors, %s elapsed%s",
		 cell->scenario->name, cell->variant->name, rr__strategy_names[cell->strategy],
		 cell->iterations, rate, failures_of(cell), cell->counts[RR_ERROR], e, left);
	if (tty) {
		fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
	} else if (final || cell->iterations > 0) {
		fprintf(stderr, "%s\n", line);
	}
	uint64_t now = rr__mono_ns();
	/* A cell's first line is always written, so a run killed right after
	 * a cell starts still shows that cell when rebuilt. */
	if (final || cell->iterations == 0 || now - last_event_ns >= 5000000000ull) {
		last_event_ns = now;
		static char fields[RR_EVENT_MAX];
		size_t n = (size_t)snprintf(
			fields, sizeof fields,
			"\"event\":\"%s\",\"scenario\":\"%s\",\"variant\":\"%s\",\"strategy\":\"%s\","
			"\"seed\":\"0x%016" PRIx64 "\",",
			final ? "cell_end" : "progress", cell->scenario->name, cell->variant->name,
			rr__strategy_names[cell->strategy], cell->seed);
		cell_fields(fields + n, sizeof fields - n, cell);
		report_event(run, fields, final);
	}
}

/* Does this cell count as having shown the documented failure? That is the
 * outcome its variant declares (struct rr_variant.expect): a finding unless
 * the upstream symptom is a hang. An environment error never is. */
static int reproduced(const struct rr__cell *c)
{
	switch (c->variant->expect) {
	case RR_EXPECT_HANG:
		return c->counts[RR_HANG] > 0;
	case RR_EXPECT_DEADLOCK:
		for (int i = 0; i < c->nsigs; i++)
			if (!strcmp(c->sigs[i].sig, "hang:deadlock") && c->sigs[i].count)
				return 1;
		return 0;
	case RR_EXPECT_FINDING:
	default:
		return c->counts[RR_BUG] + c->counts[RR_SANITIZER] + c->counts[RR_CRASH] > 0;
	}
}

const char *const rr__verdict_names[RR_NVERDICTS] = {"error", "reproduced", "missed",
						      "clean", "failed",     "skipped"};

int rr__verdict_ok(enum rr_verdict v)
{
	return v == RR_V_REPRODUCED || v == RR_V_CLEAN || v == RR_V_SKIPPED;
}

int rr__verdict_junit(enum rr_verdict v)
{
	switch (v) {
	case RR_V_FAILED:
	case RR_V_MISSED:
		return 1;
	case RR_V_ERROR:
		return 2;
	case RR_V_SKIPPED:
		return 3;
	default:
		return 0;
	}
}

void rr__cell_verdict(struct rr__run *run, struct rr__cell *c)
{
	uint64_t fails = failures_of(c);
	c->hit_rate = c->iterations ? (double)fails / (double)c->iterations : 0;
	int only_errors = c->counts[RR_ERROR] && !c->counts[RR_PASS];
	if (c->skipped)
		c->verdict = RR_V_SKIPPED;
	else if (c->variant->expect_failure)
		c->verdict = reproduced(c) ? RR_V_REPRODUCED : only_errors ? RR_V_ERROR : RR_V_MISSED;
	else
		c->verdict = fails ? RR_V_FAILED : only_errors ? RR_V_ERROR : RR_V_CLEAN;
	c->fix_p = -1;
	c->fix_miss = -1;
	if (c->variant->expect_failure || !run || c->skipped)
		return;
	/* Fix confidence: with the buggy variant's hit rate p under the same
	 * strategy and build, n clean iterations leave (1-p)^n of chance that an
	 * ineffective fix went unnoticed. */
	for (int i = 0; i < run->ncells; i++) {
		const struct rr__cell *b = &run->cells[i];
		if (b->scenario == c->scenario && b->variant->expect_failure && b->iterations &&
		    b->strategy == c->strategy) {
			c->fix_p = (double)failures_of(b) / (double)b->iterations;
			c->fix_miss = pow(1.0 - c->fix_p, (double)c->counts[RR_PASS]);
			break;
		}
	}
}


FILE *rr__report_file_open(struct rr__run *run, const char *name, char *tmp, size_t cap)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", run->dir, name);
	FILE *f = rr__atomic_open(path, tmp, cap);
	if (!f)
		report_error(run, tmp, errno);
	return f;
}

int rr__report_file_close(struct rr__run *run, FILE *f, const char *name, const char *tmp)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", run->dir, name);
	int rc = rr__atomic_commit(f, tmp, path);
	if (rc < 0) {
		report_error(run, path, -rc);
		return -1;
	}
	return 0;
}

static void write_summary_json(struct rr__run *run, int holds)
{
	char tmp[PATH_MAX + 64], esc[2400], when[32];
	FILE *f = rr__report_file_open(run, "summary.json", tmp, sizeof tmp);
	if (!f)
		return;
	iso_time(run->started_wall, when, sizeof when);
	fprintf(f, "{\n  \"format\": 1,\n  \"tool\": \"racerepro\",\n  \"run_id\": \"%s\",\n",
		run->run_id);
	fprintf(f, "  \"started\": \"%s\",\n  \"build\": \"%s\",\n  \"command\": \"%s\",\n", when,
		RR_BUILD_NAME, rr__json_escape(run->command, esc, sizeof esc));
	fprintf(f, "  \"elapsed_s\": %.3f,\n  \"interrupted\": %s,\n  \"verdict_holds\": %s,\n",
		(double)(rr__mono_ns() - run->started_ns) / 1e9, run->interrupted ? "true" : "false",
		holds ? "true" : "false");
	fprintf(f, "  \"cells\": [");
	for (int i = 0; i < run->ncells; i++) {
		const struct rr__cell *c = &run->cells[i];
		fprintf(f, "%s\n    {\n      \"scenario\": \"%s\",\n      \"variant\": \"%s\",\n",
			i ? "," : "", c->scenario->name, c->variant->name);
		fprintf(f, "      \"upstream\": \"%s\",\n",
			rr__json_escape(c->scenario->upstream, esc, sizeof esc));
		fprintf(f, "      \"expect_failure\": %s,\n      \"strategy\": \"%s\",\n",
			c->variant->expect_failure ? "true" : "false",
			rr__strategy_names[c->strategy]);
		fprintf(f, "      \"seed\": \"0x%016" PRIx64 "\",\n", c->seed);
		fprintf(f, "      \"verdict\": \"%s\",\n", rr__verdict_names[c->verdict]);
		if (c->skipped)
			fprintf(f, "      \"skip_reason\": \"%s\",\n",
				rr__json_escape(c->skip_reason, esc, sizeof esc));
		fprintf(f, "      \"iterations\": %" PRIu64 ",\n      \"elapsed_s\": %.3f,\n",
			c->iterations, c->elapsed_s);
		fprintf(f, "      \"rate\": %.1f,\n      \"hit_rate\": %.6g,\n",
			c->elapsed_s > 0 ? (double)c->iterations / c->elapsed_s : 0.0, c->hit_rate);
		fprintf(f, "      \"outcomes\": {");
		for (int k = 0; k < RR_NOUTCOMES; k++)
			fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", rr__outcome_names[k],
				c->counts[k]);
		fprintf(f, "},\n      \"by_strategy\": {");
		int first = 1;
		for (int k = 0; k < RR_NSTRATEGIES; k++) {
			if (!c->strat_iterations[k])
				continue;
			fprintf(f, "%s\"%s\": {\"iterations\": %" PRIu64 ", \"failures\": %" PRIu64 "}",
				first ? "" : ", ", rr__strategy_names[k], c->strat_iterations[k],
				c->strat_failures[k]);
			first = 0;
		}
		fprintf(f, "},\n");
		if (c->has_failure)
			fprintf(f,
				"      \"first_failure\": {\"iteration\": %" PRIu64
				", \"seconds\": %.4f},\n",
				c->first_failure_iteration, c->first_failure_s);
		if (c->fix_p >= 0)
			fprintf(f,
				"      \"fix_confidence\": {\"buggy_hit_rate\": %.6g, "
				"\"clean_iterations\": %" PRIu64 ", \"miss_probability\": %.6g},\n",
				c->fix_p, c->counts[RR_PASS], c->fix_miss);
		fprintf(f, "      \"params\": {");
		int np = 0;
		for (const struct rr_param *p = c->scenario->params; p && p->name; p++) {
			const char *v = rr__params_get(&c->params, p->name);
			if (!v)
				v = p->def;
			fprintf(f, "%s\"%s\": \"%s\"", np++ ? ", " : "", p->name,
				rr__json_escape(v, esc, sizeof esc));
		}
		fprintf(f, "},\n      \"env\": {");
		for (int k = 0; k < c->nnotes; k++) {
			char key[300];
			fprintf(f, "%s\"%s\": ", k ? ", " : "",
				rr__json_escape(c->notes[k][0], key, sizeof key));
			fprintf(f, "\"%s\"", rr__json_escape(c->notes[k][1], esc, sizeof esc));
		}
		fprintf(f, "},\n      \"signatures\": [");
		for (int k = 0; k < c->nsigs; k++) {
			const struct rr__signature *s = &c->sigs[k];
			char replay[PATH_MAX * 2], msg[1200];
			replay_command(run, s, replay, sizeof replay);
			fprintf(f, "%s\n        {\"signature\": \"%s\", ", k ? "," : "",
				rr__json_escape(s->sig, esc, sizeof esc));
			fprintf(f,
				"\"class\": \"%s\", \"count\": %" PRIu64 ", \"message\": \"%s\", "
				"\"role\": \"%s\", \"strategy\": \"%s\", ",
				rr__outcome_names[s->klass], s->count,
				rr__json_escape(s->message, msg, sizeof msg), s->role, s->strategy);
			fprintf(f,
				"\"first_iteration\": %" PRIu64 ", \"first_seconds\": %.4f, "
				"\"dir\": \"%s\", \"repro\": \"%s/failure.repro\", ",
				s->first_iteration, s->first_s, s->dir, s->dir);
			fprintf(f, "\"replay\": \"%s\"}", rr__json_escape(replay, esc, sizeof esc));
		}
		fprintf(f, "%s]\n    }", c->nsigs ? "\n      " : "");
	}
	fprintf(f, "\n  ]\n}\n");
	rr__report_file_close(run, f, "summary.json", tmp);
}

/* One <testcase> for cell C: classname racerepro.<scenario> (or, in a report
 * merged across builds, racerepro.<build>.<scenario>), name the variant. A
 * failure's text carries the command that replays each signature. */
/* The JUnit kind of a cell (0 pass, 1 failure, 2 error, 3 skipped): its
 * verdict's, except that a cell cut short by an interruption is an error
 * when its verdict alone would pass: an interrupted run is never green. */
static int junit_kind(const struct rr__cell *c)
{
	int k = rr__verdict_junit(c->verdict);
	return c->interrupted && !c->skipped && k == 0 ? 2 : k;
}

void rr__junit_testcase(FILE *f, const struct rr__run *run, const struct rr__cell *c,
			const char *build)
{
	fprintf(f, "    <testcase classname=\"racerepro.");
	if (build) {
		rr__xml_escape(f, build);
		fputc('.', f);
	}
	rr__xml_escape(f, c->scenario->name);
	fprintf(f, "\" name=\"");
	rr__xml_escape(f, c->variant->name);
	fprintf(f, "\" time=\"%.3f\">\n", c->elapsed_s);
	char replay[PATH_MAX * 2] = "";
	const struct rr__signature *s0 = c->nsigs ? &c->sigs[0] : NULL;
	if (s0)
		replay_command(run, s0, replay, sizeof replay);
	if (c->verdict == RR_V_FAILED && s0) {
		fprintf(f, "      <failure message=\"");
		rr__xml_escape(f, s0->sig);
		fprintf(f, "\" type=\"%s\">", rr__outcome_names[s0->klass]);
		for (int k = 0; k < c->nsigs; k++) {
			char each[PATH_MAX * 2], text[PATH_MAX * 3];
			replay_command(run, &c->sigs[k], each, sizeof each);
			snprintf(text, sizeof text, "%s (%" PRIu64 "x)\n%s\nreplay: %s\n", c->sigs[k].sig,
				 c->sigs[k].count, c->sigs[k].message, each);
			rr__xml_escape(f, text);
		}
		fprintf(f, "</failure>\n");
	} else if (c->verdict == RR_V_MISSED) {
		fprintf(f,
			"      <failure message=\"detection miss: the buggy variant did not "
			"reproduce in %" PRIu64 " iterations\" type=\"missed\"/>\n",
			c->iterations);
	} else if (c->verdict == RR_V_ERROR) {
		fprintf(f, "      <error message=\"");
		rr__xml_escape(f, s0 ? s0->message : "environment error");
		fprintf(f, "\"/>\n");
	} else if (c->verdict == RR_V_SKIPPED) {
		fprintf(f, "      <skipped message=\"");
		rr__xml_escape(f, c->skip_reason);
		fprintf(f, "\"/>\n");
	} else if (junit_kind(c) == 2) {
		fprintf(f,
			"      <error message=\"interrupted after %" PRIu64 " iterations: this cell "
			"did not finish (verdict so far: %s)\" type=\"interrupted\"/>\n",
			c->iterations, rr__verdict_names[c->verdict]);
	}
	char out[PATH_MAX * 3];
	snprintf(out, sizeof out, "%s%s%s: %" PRIu64 " iterations, verdict %s%s%s%s%s%s\n",
		 build ? build : "", build ? " build: " : "",
		 c->variant->expect_failure ? "expected failure" : "must not fail", c->iterations,
		 rr__verdict_names[c->verdict], c->interrupted ? " (interrupted)" : "",
		 s0 ? "; first signature " : "",
		 s0 ? s0->sig : "", s0 ? "; replay: " : "", replay);
	fprintf(f, "      <system-out>");
	rr__xml_escape(f, out);
	fprintf(f, "</system-out>\n    </testcase>\n");
}

/* Totals of the cells for which PICK is true (all when BUILD is NULL). */
static void junit_counts(const struct rr__run *run, const char (*builds)[16], const char *build,
			 int n[4], double *t)
{
	memset(n, 0, 4 * sizeof n[0]);
	*t = 0;
	for (int i = 0; i < run->ncells; i++) {
		if (build && strcmp(builds[i], build))
			continue;
		int k = junit_kind(&run->cells[i]);
		n[0]++;
		if (k)
			n[k]++;
		*t += run->cells[i].elapsed_s;
	}
}

void rr__junit_write(FILE *f, const struct rr__run *run, const char (*builds)[16])
{
	int n[4];
	double t;
	junit_counts(run, NULL, NULL, n, &t);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
		"<testsuites name=\"racerepro\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
		"skipped=\"%d\" time=\"%.3f\">\n",
		n[0], n[1], n[2], n[3], t);
	for (int i = 0; i < run->ncells; i++) {
		const char *b = builds ? builds[i] : NULL;
		int seen = 0;
		for (int k = 0; builds && k < i && !seen; k++)
			seen = !strcmp(builds[k], b);
		if (seen)
			continue; /* this build's suite is written already */
		junit_counts(run, builds, b, n, &t);
		fprintf(f, "  <testsuite name=\"racerepro");
		if (b) {
			fputc('.', f);
			rr__xml_escape(f, b);
		}
		fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
			n[0], n[1], n[2], n[3], t);
		for (int k = 0; k < run->ncells; k++)
			if (!b || !strcmp(builds[k], b))
				rr__junit_testcase(f, run, &run->cells[k], b);
		fprintf(f, "  </testsuite>\n");
		if (!b)
			break;
	}
	fprintf(f, "</testsuites>\n");
}

static void write_junit(struct rr__run *run)
{
	char tmp[PATH_MAX + 64];
	FILE *f = rr__report_file_open(run, "junit.xml", tmp, sizeof tmp);
	if (!f)
		return;
	rr__junit_write(f, run, NULL);
	rr__report_file_close(run, f, "junit.xml", tmp);
}

static void write_summary_md(struct rr__run *run, int holds)
{
	char tmp[PATH_MAX + 64];
	FILE *f = rr__report_file_open(run, "summary.md", tmp, sizeof tmp);
	if (!f)
		return;
	fprintf(f, "# racerepro run %s\n\n", run->run_id);
	fprintf(f, "Command: `%s` (build `%s`)%s\n\n", run->command, RR_BUILD_NAME,
		run->interrupted ? ", **interrupted**" : "");
	fprintf(f, "Verdict: **%s**\n\n", holds ? "holds" : "does not hold");
	fprintf(f, "| scenario | variant | strategy | iterations | failures | rate/s | verdict |\n");
	fprintf(f, "|---|---|---|---:|---:|---:|---|\n");
	for (int i = 0; i < run->ncells; i++) {
		const struct rr__cell *c = &run->cells[i];
		fprintf(f, "| %s | %s | %s | %" PRIu64 " | %" PRIu64 " | %.0f | %s |\n",
			c->scenario->name, c->variant->name, rr__strategy_names[c->strategy],
			c->iterations, failures_of(c),
			c->elapsed_s > 0 ? (double)c->iterations / c->elapsed_s : 0.0,
			rr__verdict_names[c->verdict]);
	}
	for (int i = 0; i < run->ncells; i++) {
		const struct rr__cell *c = &run->cells[i];
		if (c->fix_p >= 0) {
			char fc[512];
			rr__fix_confidence_text(c, fc, sizeof fc);
			fprintf(f, "\nFix confidence for %s/%s: %s.\n", c->scenario->name,
				c->variant->name, fc);
		}
		for (int k = 0; k < c->nnotes; k++)
			fprintf(f, "\n%s/%s %s: %s\n", c->scenario->name, c->variant->name,
				c->notes[k][0], c->notes[k][1]);
	}
	for (int i = 0; i < run->ncells; i++) {
		const struct rr__cell *c = &run->cells[i];
		for (int k = 0; k < c->nsigs; k++) {
			const struct rr__signature *s = &c->sigs[k];
			char replay[PATH_MAX * 2];
			replay_command(run, s, replay, sizeof replay);
			fprintf(f, "\n## %s/%s: `%s` (%" PRIu64 "x)\n\n%s\n\nFirst at iteration %" PRIu64
				   " (%.3f s), strategy %s. Evidence in `%s/`.\n\n    %s\n",
				c->scenario->name, c->variant->name, s->sig, s->count, s->message,
				s->first_iteration, s->first_s, s->strategy, s->dir, replay);
		}
	}
	rr__report_file_close(run, f, "summary.md", tmp);
}


void rr__fix_confidence_text(const struct rr__cell *c, char *buf, size_t cap)
{
	/* (1-p)^n underflows to 0 for long runs: say how small it is instead,
	 * next to the numbers it comes from. */
	char miss[32];
	if (c->fix_miss < 1e-300)
		snprintf(miss, sizeof miss, "< 1e-300");
	else
		snprintf(miss, sizeof miss, "= %.3g", c->fix_miss);
	if (c->fix_p > 0)
		snprintf(buf, cap,
			 "%" PRIu64 " clean iterations; the buggy twin failed once every %.3g "
			 "iterations (p = %.4g), so an ineffective fix passes them all with "
			 "probability (1-p)^%" PRIu64 " %s",
			 c->counts[RR_PASS], 1.0 / c->fix_p, c->fix_p, c->counts[RR_PASS], miss);
	else
		snprintf(buf, cap,
			 "%" PRIu64 " clean iterations; the buggy twin never failed (p = 0), so "
			 "they say nothing about the fix",
			 c->counts[RR_PASS]);
}

int rr__report_holds(const struct rr__run *run)
{
	int holds = !run->interrupted && !run->write_failed;
	for (int i = 0; i < run->ncells; i++)
		holds = holds && rr__verdict_ok(run->cells[i].verdict);
	return holds;
}

int rr__report_finish(struct rr__run *run)
{
	for (int i = 0; i < run->ncells; i++)
		rr__cell_verdict(run, &run->cells[i]);
	int holds = rr__report_holds(run);
	write_summary_json(run, holds);
	write_summary_md(run, holds);
	write_junit(run);
	char fields[256];
	snprintf(fields, sizeof fields, "\"event\":\"end\",\"verdict_holds\":%s,\"interrupted\":%s",
		 holds ? "true" : "false", run->interrupted ? "true" : "false");
	report_event(run, fields, 1);
	/* The reserve is no longer needed: give its blocks back. */
	/* (Truncating to its own size frees the blocks past the end; a hole
	 * punched there is not enough on ext4.) */
	if (run->events_fd >= 0 && run->events_reserved != UINT64_MAX &&
	    run->events_reserved > run->events_size &&
	    ftruncate(run->events_fd, (off_t)run->events_size) < 0)
		run->events_reserved = run->events_size; /* kept allocated: harmless */
	if (run->events_fd >= 0)
		close(run->events_fd);
	run->events_fd = -1;
	return holds;
}

void rr__report_print_summary(const struct rr__run *run, FILE *f)
{
	fprintf(f, "\n");
	char why[1024] = "";
	size_t wl = 0;
	if (run->interrupted)
		wl += (size_t)snprintf(why, sizeof why, "interrupted");
	if (run->write_failed)
		wl += (size_t)snprintf(why + wl, sizeof why - wl, "%sthe reports could not be written",
				       wl ? ", " : "");
	for (int i = 0; i < run->ncells; i++) {
		const struct rr__cell *c = &run->cells[i];
		fprintf(f, "%-16s %-12s %-10s %10" PRIu64 " iterations %6" PRIu64 " failures  %s\n",
			c->scenario->name, c->variant->name, rr__strategy_names[c->strategy],
			c->iterations, failures_of(c), rr__verdict_names[c->verdict]);
		if (c->skipped)
			fprintf(f, "    skipped: %s\n", c->skip_reason);
		if (c->fix_p >= 0) {
			char fc[512];
			rr__fix_confidence_text(c, fc, sizeof fc);
			fprintf(f, "    fix confidence: %s\n", fc);
		}
		for (int k = 0; k < c->nsigs; k++) {
			const struct rr__signature *s = &c->sigs[k];
			char replay[PATH_MAX * 2];
			replay_command(run, s, replay, sizeof replay);
			fprintf(f, "    %s x%" PRIu64 ": %s\n      replay: %s\n",
				rr__outcome_names[s->klass], s->count, s->message, replay);
		}
		if (!rr__verdict_ok(c->verdict) && wl < sizeof why)
			wl += (size_t)snprintf(why + wl, sizeof why - wl, "%s%s/%s %s",
					       wl ? ", " : "", c->scenario->name, c->variant->name,
					       rr__verdict_names[c->verdict]);
	}
	fprintf(f, "reports: %s\n", run->dir);
	/* The last line says it all, as summary.md does. */
	if (rr__report_holds(run))
		fprintf(f, "Verdict: holds\n");
	else
		fprintf(f, "Verdict: FAILS (%s)\n", why);
}
