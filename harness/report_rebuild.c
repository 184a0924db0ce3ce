/*
 * report_rebuild.c: `racerepro report DIR` rebuilds summary.json, summary.md,
 * junit.xml and summary.html from DIR/events.jsonl, so that a run killed
 * before its end (SIGKILL, a CI timeout, a full disk) still gets a summary;
 * `racerepro report --merge OUT DIR...` joins several report folders (the
 * nightly soak's per-cell runs, possibly of different builds) into one.
 *
 * events.jsonl is the record of truth: report.c writes each line with one
 * write(2) as the run goes. What it holds, and so what a rebuild can know:
 *   - the last progress/cell_end line of each (scenario, variant) gives the
 *     outcome counts, per-strategy counts, environment notes, first failure;
 *   - failure lines give each signature (class, message, evidence folder);
 *     they are logged for counts 1..20 and then at powers of two, so a
 *     signature's count is exact only where the cell's final outcome count
 *     pins it down (one signature of that class in a cell that ended);
 *   - failures logged after a cell's last progress line still count: the
 *     cell's outcome and iteration counts are raised to cover them;
 *   - no `end` line means the run was interrupted.
 * Not in the events, so not rebuilt: scenario parameters set with --param
 * (summary.json shows the defaults) and the role that saw each failure
 * (taken from the message's "(in ROLE)" suffix when it has one).
 *
 * JSON is read with jansson, never a hand-written parser. A line that does not
 * parse is skipped with a note: the last one is what a run killed mid-write
 * leaves, any other is damage, and neither should cost the rest of the report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report.h"


/* Everything the rebuild learns beyond struct rr__run. */
struct rebuild {
	struct rr__run *run;
	char build[RR_MAX_CELLS][16];    /* per cell: the build that ran it */
	double t0[RR_MAX_CELLS];         /* per cell: run time when it started */
	int has_t0[RR_MAX_CELLS];
	int ended[RR_MAX_CELLS];         /* a cell_end line was seen */
	double last_t[RR_MAX_CELLS];     /* last event of the cell */
	double sig_t[RR_MAX_CELLS][RR_MAX_SIGS]; /* run time of a signature's first line */
	double last_cell_end_t;
	double last_t_run;
	int have_start, have_end, end_interrupted;
	char run_build[16];
	int skipped_lines;
	int mixed_builds;
};

static const char *jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static double jnum(json_t *o, const char *key, double def)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : def;
}

static uint64_t ju64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v) && json_integer_value(v) > 0)
		return (uint64_t)json_integer_value(v);
	if (json_is_real(v) && json_real_value(v) > 0)
		return (uint64_t)json_real_value(v);
	return 0;
}

static int outcome_parse(const char *name)
{
	for (int i = 0; name && i < RR_NOUTCOMES; i++)
		if (!strcmp(rr__outcome_names[i], name))
			return i;
	return -1;
}

/* ---- scenarios this binary does not know --------------------------------
 * A folder written by another binary (racerepro-test, a newer build) may name
 * scenarios or variants missing here. The report still gets written: such a
 * scenario gets a stand-in record, and a variant is taken as expected to fail
 * when it is called "buggy" (the convention every scenario follows). */
#define MAX_STANDINS 16
#define MAX_STANDIN_VARIANTS 8
struct standin {
	struct rr_scenario sc;
	struct rr_variant variants[MAX_STANDIN_VARIANTS + 1];
	char name[64];
	char vnames[MAX_STANDIN_VARIANTS][32];
};
static struct standin standins[MAX_STANDINS];
static int nstandins;
static const char *const no_roles[] = {"?", NULL};

static const struct rr_variant *standin_variant(struct standin *s, const char *vname)
{
	int n = 0;
	for (; n < MAX_STANDIN_VARIANTS && s->variants[n].name; n++)
		if (!strcmp(s->variants[n].name, vname))
			return &s->variants[n];
	if (n == MAX_STANDIN_VARIANTS)
		return NULL;
	snprintf(s->vnames[n], sizeof s->vnames[n], "%s", vname);
	s->variants[n].name = s->vnames[n];
	s->variants[n].expect_failure = !strcmp(vname, "buggy");
	s->variants[n].help = "";
	return &s->variants[n];
}

static int lookup(const char *scenario, const char *variant, const struct rr_scenario **sc,
		  const struct rr_variant **v)
{
	*sc = rr__scenario_find(scenario);
	if (*sc) {
		*v = rr__variant_find(*sc, variant);
		if (*v)
			return 0;
		/* A variant this binary lacks: fall through to a stand-in. */
	}
	for (int i = 0; i < nstandins; i++) {
		if (!strcmp(standins[i].name, scenario)) {
			*sc = &standins[i].sc;
			*v = standin_variant(&standins[i], variant);
			return *v ? 0 : -1;
		}
	}
	if (nstandins == MAX_STANDINS)
		return -1;
	struct standin *s = &standins[nstandins++];
	memset(s, 0, sizeof *s);
	snprintf(s->name, sizeof s->name, "%s", scenario);
	s->sc.name = s->name;
	s->sc.upstream = "(not in this racerepro binary)";
	s->sc.summary = "";
	s->sc.symptom = "";
	s->sc.roles = no_roles;
	s->sc.variants = s->variants;
	fprintf(stderr,
		"racerepro report: note: scenario %s/%s is not in this binary; variant 'buggy' is "
		"taken as the expected failure\n",
		scenario, variant);
	*sc = &s->sc;
	*v = standin_variant(s, variant);
	return *v ? 0 : -1;
}

/* The cell for (build, scenario, variant), made on first sight. */
static int cell_of(struct rebuild *rb, json_t *ev)
{
	const char *scenario = jstr(ev, "scenario"), *variant = jstr(ev, "variant");
	if (!scenario || !variant)
		return -1;
	const char *build = jstr(ev, "build");
	if (!build)
		build = rb->run_build;
	struct rr__run *run = rb->run;
	for (int i = 0; i < run->ncells; i++)
		if (!strcmp(run->cells[i].scenario->name, scenario) &&
		    !strcmp(run->cells[i].variant->name, variant) && !strcmp(rb->build[i], build))
			return i;
	if (run->ncells == RR_MAX_CELLS)
		return -1;
	const struct rr_scenario *sc;
	const struct rr_variant *v;
	if (lookup(scenario, variant, &sc, &v) < 0)
		return -1;
	int i = run->ncells++;
	struct rr__cell *c = &run->cells[i];
	memset(c, 0, sizeof *c);
	c->scenario = sc;
	c->variant = v;
	c->strategy = RR_STRAT_PORTFOLIO;
	snprintf(rb->build[i], sizeof rb->build[i], "%s", build);
	/* Until a progress line says when the cell started: right after the
	 * previous cell ended (cells run one after another). */
	rb->t0[i] = rb->last_cell_end_t;
	return i;
}

static void take_cell_line(struct rebuild *rb, json_t *ev, int is_end)
{
	int i = cell_of(rb, ev);
	if (i < 0)
		return;
	struct rr__cell *c = &rb->run->cells[i];
	double t = jnum(ev, "t", 0), el = jnum(ev, "elapsed_s", 0);
	int st = rr__strategy_parse(jstr(ev, "strategy") ? jstr(ev, "strategy") : "");
	if (st >= 0)
		c->strategy = st;
	uint64_t seed;
	if (jstr(ev, "seed") && rr__parse_u64(jstr(ev, "seed"), &seed) == 0)
		c->seed = seed;
	if (!rb->has_t0[i]) {
		rb->t0[i] = t - el > 0 ? t - el : 0;
		rb->has_t0[i] = 1;
	}
	c->iterations = ju64(ev, "iterations");
	c->elapsed_s = el;
	json_t *oc = json_object_get(ev, "outcomes");
	for (int k = 0; k < RR_NOUTCOMES; k++)
		c->counts[k] = ju64(oc, rr__outcome_names[k]);
	json_t *bs = json_object_get(ev, "by_strategy");
	if (json_object_size(bs)) {
		memset(c->strat_iterations, 0, sizeof c->strat_iterations);
		memset(c->strat_failures, 0, sizeof c->strat_failures);
		const char *key;
		json_t *val;
		json_object_foreach(bs, key, val)
		{
			int s = rr__strategy_parse(key);
			if (s < 0)
				continue;
			c->strat_iterations[s] = ju64(val, "iterations");
			c->strat_failures[s] = ju64(val, "failures");
		}
	}
	json_t *env = json_object_get(ev, "env");
	const char *key;
	json_t *val;
	json_object_foreach(env, key, val)
	{
		if (!json_is_string(val))
			continue;
		int j;
		for (j = 0; j < c->nnotes; j++)
			if (!strcmp(c->notes[j][0], key))
				break;
		if (j == RR_MAX_NOTES)
			continue;
		if (j == c->nnotes)
			c->nnotes++;
		snprintf(c->notes[j][0], sizeof c->notes[j][0], "%s", key);
		snprintf(c->notes[j][1], sizeof c->notes[j][1], "%s", json_string_value(val));
	}
	json_t *ff = json_object_get(ev, "first_failure");
	if (json_is_object(ff)) {
		c->has_failure = 1;
		c->first_failure_iteration = ju64(ff, "iteration");
		c->first_failure_s = jnum(ff, "seconds", 0);
	}
	/* Not written by every version of report.c; honoured when present. */
	if (json_is_true(json_object_get(ev, "skipped"))) {
		c->skipped = 1;
		snprintf(c->skip_reason, sizeof c->skip_reason, "%s",
			 jstr(ev, "skip_reason") ? jstr(ev, "skip_reason") : "skipped");
	}
	if (is_end) {
		rb->ended[i] = 1;
		rb->last_cell_end_t = t;
		c->interrupted = json_is_true(json_object_get(ev, "interrupted"));
	}
	if (t > rb->last_t[i])
		rb->last_t[i] = t;
}

static void take_failure(struct rebuild *rb, json_t *ev)
{
	int i = cell_of(rb, ev);
	const char *sig = jstr(ev, "signature");
	int klass = outcome_parse(jstr(ev, "class"));
	if (i < 0 || !sig || klass < 0)
		return;
	struct rr__cell *c = &rb->run->cells[i];
	double t = jnum(ev, "t", 0);
	if (t > rb->last_t[i])
		rb->last_t[i] = t;
	struct rr__signature *s = NULL;
	for (int k = 0; k < c->nsigs; k++)
		if (!strcmp(c->sigs[k].sig, sig))
			s = &c->sigs[k];
	if (!s) {
		if (c->nsigs == RR_MAX_SIGS)
			return;
		rb->sig_t[i][c->nsigs] = t;
		s = &c->sigs[c->nsigs++];
		memset(s, 0, sizeof *s);
		snprintf(s->sig, sizeof s->sig, "%s", sig);
		s->klass = klass;
		const char *msg = jstr(ev, "message") ? jstr(ev, "message") : "";
		snprintf(s->message, sizeof s->message, "%s", msg);
		/* The driver ends messages with " (in ROLE)". */
		const char *in = strstr(msg, " (in ");
		size_t len = strlen(msg);
		if (in && len && msg[len - 1] == ')' && !strstr(in + 5, " (in "))
			snprintf(s->role, sizeof s->role, "%.*s", (int)(msg + len - 1 - (in + 5)),
				 in + 5);
		const char *st = jstr(ev, "strategy");
		snprintf(s->strategy, sizeof s->strategy, "%s", st ? st : "?");
		/* The evidence folder is the reproducer's folder. */
		const char *repro = jstr(ev, "repro");
		if (repro) {
			const char *slash = strrchr(repro, '/');
			snprintf(s->dir, sizeof s->dir, "%.*s",
				 (int)(slash ? (size_t)(slash - repro) : strlen(repro)), repro);
		}
		/* report.c logs the worker's 0-based iteration index; the summary
		 * counts iterations from 1. */
		s->first_iteration = ju64(ev, "iteration") + 1;
	}
	/* The binary that found it, for the replay commands. */
	const char *replay = jstr(ev, "replay"), *r = replay ? strstr(replay, " replay ") : NULL;
	struct rr__run *run = rb->run;
	if (r && !run->self_path[0] && (size_t)(r - replay) < sizeof run->self_path)
		snprintf(run->self_path, sizeof run->self_path, "%.*s", (int)(r - replay), replay);
	uint64_t n = ju64(ev, "count");
	if (n > s->count)
		s->count = n;
}

/* Parses one line; returns 0, or -1 if it is not valid JSON. */
static int take_line(struct rebuild *rb, const char *line, size_t len, char *err, size_t errcap)
{
	json_error_t e;
	json_t *ev = json_loadb(line, len, 0, &e);
	if (!ev || !json_is_object(ev)) {
		snprintf(err, errcap, "%s", ev ? "not a JSON object" : e.text);
		json_decref(ev);
		return -1;
	}
	const char *what = jstr(ev, "event");
	double t = jnum(ev, "t", 0);
	if (t > rb->last_t_run)
		rb->last_t_run = t;
	struct rr__run *run = rb->run;
	if (!what) {
		/* Not ours: ignored, as are event types a newer report.c adds. */
	} else if (!strcmp(what, "start")) {
		if (!rb->have_start) {
			rb->have_start = 1;
			snprintf(run->run_id, sizeof run->run_id, "%s",
				 jstr(ev, "run_id") ? jstr(ev, "run_id") : "unknown");
			snprintf(run->command, sizeof run->command, "%s",
				 jstr(ev, "command") ? jstr(ev, "command") : "");
			const char *when = jstr(ev, "time");
			struct tm tm;
			memset(&tm, 0, sizeof tm);
			if (when && strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm))
				run->started_wall = (double)timegm(&tm);
		}
		const char *b = jstr(ev, "build");
		if (b) {
			if (rb->have_start > 1 && strcmp(rb->run_build, b))
				rb->mixed_builds = 1;
			snprintf(rb->run_build, sizeof rb->run_build, "%s", b);
		}
		rb->have_start++;
	} else if (!strcmp(what, "progress") || !strcmp(what, "cell_end")) {
		take_cell_line(rb, ev, what[0] == 'c');
	} else if (!strcmp(what, "failure")) {
		take_failure(rb, ev);
	} else if (!strcmp(what, "end")) {
		rb->have_end = 1;
		rb->end_interrupted = json_is_true(json_object_get(ev, "interrupted"));
	}
	json_decref(ev);
	return 0;
}

/* Reads PATH line by line into RB. Returns 0, or -errno if it cannot be read. */
static int read_events(struct rebuild *rb, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		int complete = line[len - 1] == '\n';
		size_t n = (size_t)len;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (!n)
			continue;
		char err[200];
		if (take_line(rb, line, n, err, sizeof err) < 0) {
			rb->skipped_lines++;
			/* getline leaves no newline only on the file's last line. */
			if (!complete)
				fprintf(stderr,
					"racerepro report: note: %s line %ld is cut short (the run was "
					"killed while writing it); skipped\n",
					path, lineno);
			else
				fprintf(stderr,
					"racerepro report: note: %s line %ld is not valid JSON (%s); "
					"skipped\n",
					path, lineno, err);
		}
	}
	int rc = ferror(f) ? -EIO : 0;
	free(line);
	fclose(f);
	return rc;
}

/* Settles what the lines left open: start times, counts that failure lines
 * logged after the last progress line, the run's end. */
static void settle(struct rebuild *rb)
{
	struct rr__run *run = rb->run;
	for (int i = 0; i < run->ncells; i++) {
		struct rr__cell *c = &run->cells[i];
		for (int k = 0; k < c->nsigs; k++) {
			double s = rb->sig_t[i][k] - rb->t0[i];
			c->sigs[k].first_s = s > 0 ? s : 0;
		}
		for (int klass = RR_BUG; klass < RR_NOUTCOMES; klass++) {
			uint64_t sum = 0;
			int nk = 0;
			struct rr__signature *only = NULL;
			for (int k = 0; k < c->nsigs; k++) {
				if (c->sigs[k].klass != klass)
					continue;
				sum += c->sigs[k].count;
				nk++;
				only = &c->sigs[k];
			}
			if (sum > c->counts[klass]) {
				/* Failures logged after the cell's last progress line. */
				c->iterations += sum - c->counts[klass];
				c->counts[klass] = sum;
			} else if (rb->ended[i] && nk > 0) {
				/* Counts below 20 are exact (each of 1..20 is logged);
				 * when at most one signature of the class is past
				 * that, the cell's final count pins it. */
				int open = 0;
				uint64_t exact = 0;
				for (int k = 0; k < c->nsigs; k++) {
					if (c->sigs[k].klass != klass)
						continue;
					if (c->sigs[k].count >= 20) {
						open++;
						only = &c->sigs[k];
					} else {
						exact += c->sigs[k].count;
					}
				}
				if (open == 1 && c->counts[klass] >= exact)
					only->count = c->counts[klass] - exact;
				else if (nk == 1)
					only->count = c->counts[klass];
			}
		}
		/* The cell line's first failure was timed by the driver itself:
		 * better than the failure line's write time. */
		for (int k = 0; c->has_failure && k < c->nsigs; k++)
			if (c->sigs[k].first_iteration == c->first_failure_iteration)
				c->sigs[k].first_s = c->first_failure_s;
		if (!c->has_failure) {
			for (int k = 0; k < c->nsigs; k++) {
				const struct rr__signature *s = &c->sigs[k];
				if (s->klass == RR_ERROR)
					continue;
				if (!c->has_failure || s->first_iteration < c->first_failure_iteration) {
					c->first_failure_iteration = s->first_iteration;
					c->first_failure_s = s->first_s;
				}
				c->has_failure = 1;
			}
		}
		if (!rb->ended[i]) {
			c->interrupted = 1;
			double el = rb->last_t[i] - rb->t0[i];
			if (el > c->elapsed_s)
				c->elapsed_s = el;
		}
		/* The build that ran the cell, where it is not this binary's. */
		if ((rb->mixed_builds || strcmp(rb->build[i], RR_BUILD_NAME)) &&
		    c->nnotes < RR_MAX_NOTES) {
			int j;
			for (j = 0; j < c->nnotes; j++)
				if (!strcmp(c->notes[j][0], "build"))
					break;
			if (j == c->nnotes)
				c->nnotes++;
			snprintf(c->notes[j][0], sizeof c->notes[j][0], "build");
			snprintf(c->notes[j][1], sizeof c->notes[j][1], "%s", rb->build[i]);
		}
	}
	/* summary.json's elapsed_s is measured from started_ns to now: place
	 * the start so that it comes out as the run's last event. */
	uint64_t now = rr__mono_ns(), back = (uint64_t)(rb->last_t_run * 1e9);
	run->started_ns = back < now ? now - back : 0;
}

static void self_path_from(struct rr__run *run)
{
	if (run->self_path[0])
		return; /* from a failure line's replay command */
	/* The binary that ran: the command's first word. */
	const char *cmd = run->command;
	size_t n = strcspn(cmd, " ");
	if (n && n < sizeof run->self_path)
		snprintf(run->self_path, sizeof run->self_path, "%.*s", (int)n, cmd);
	else
		snprintf(run->self_path, sizeof run->self_path, "racerepro");
}

/* ---- merging folders ------------------------------------------------------ */

/* One testsuite per build, one testcase per cell, classname
 * racerepro.<build>.<scenario>: report.c's mapping, made unique across builds.
 * Replaces the junit.xml that rr__report_finish wrote. */
static int write_merged_junit(struct rebuild *rb)
{
	struct rr__run *run = rb->run;
	char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
	snprintf(tmp, sizeof tmp, "%s/junit.xml.tmp", run->dir);
	snprintf(path, sizeof path, "%s/junit.xml", run->dir);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "racerepro report: cannot write %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	char builds[RR_MAX_CELLS][16];
	int nb = 0, tot[4] = {0, 0, 0, 0};
	double ttot = 0;
	for (int i = 0; i < run->ncells; i++) {
		const char *v = run->cells[i].verdict;
		tot[0]++;
		tot[1] += !strcmp(v, "failed") || !strcmp(v, "missed");
		tot[2] += !strcmp(v, "error");
		tot[3] += !strcmp(v, "skipped");
		ttot += run->cells[i].elapsed_s;
		int j;
		for (j = 0; j < nb; j++)
			if (!strcmp(builds[j], rb->build[i]))
				break;
		if (j == nb)
			snprintf(builds[nb++], sizeof builds[0], "%s", rb->build[i]);
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
		"<testsuites name=\"racerepro\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
		"skipped=\"%d\" time=\"%.3f\">\n",
		tot[0], tot[1], tot[2], tot[3], ttot);
	for (int b = 0; b < nb; b++) {
		int n[4] = {0, 0, 0, 0};
		double t = 0;
		for (int i = 0; i < run->ncells; i++) {
			if (strcmp(rb->build[i], builds[b]))
				continue;
			const char *v = run->cells[i].verdict;
			n[0]++;
			n[1] += !strcmp(v, "failed") || !strcmp(v, "missed");
			n[2] += !strcmp(v, "error");
			n[3] += !strcmp(v, "skipped");
			t += run->cells[i].elapsed_s;
		}
		fprintf(f, "  <testsuite name=\"racerepro.");
		rr__xml_escape(f, builds[b]);
		fprintf(f, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
			n[0], n[1], n[2], n[3], t);
		for (int i = 0; i < run->ncells; i++)
			if (!strcmp(rb->build[i], builds[b]))
				rr__junit_testcase(f, run, &run->cells[i], builds[b]);
		fprintf(f, "  </testsuite>\n");
	}
	fprintf(f, "</testsuites>\n");
	int bad = ferror(f);
	if (fclose(f) || bad || rename(tmp, path) < 0) {
		fprintf(stderr, "racerepro report: cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* "a/b" relative to BASE, when A lies inside BASE; else -1. */
static int relative_inside(const char *base, const char *dir, char *out, size_t cap)
{
	char rb[PATH_MAX], rd[PATH_MAX];
	if (!realpath(base, rb) || !realpath(dir, rd))
		return -1;
	size_t n = strlen(rb);
	if (strncmp(rd, rb, n) || rd[n] != '/')
		return -1;
	snprintf(out, cap, "%s", rd + n + 1);
	return 0;
}

/* Copies DIR/events.jsonl into OUT's merged log: each line gains the build
 * that wrote it, its time moves onto the merged timeline (SHIFT seconds), and
 * its evidence paths become relative to OUT. Sets *ENDED when the folder's run
 * ended. Returns 0, or -1 after a one-line error. */
static int merge_one(FILE *out, const char *dir, const char *rel, double shift, int *ended,
		     int *interrupted, int *skipped_lines)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/events.jsonl", dir);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "racerepro report: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char build[16] = RR_BUILD_NAME;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	*ended = 0;
	while ((len = getline(&line, &cap, f)) > 0) {
		lineno++;
		json_error_t e;
		json_t *ev = json_loadb(line, (size_t)len, 0, &e);
		if (!ev || !json_is_object(ev)) {
			(*skipped_lines)++;
			fprintf(stderr, "racerepro report: note: %s line %ld %s; skipped\n", path, lineno,
				line[len - 1] != '\n' ? "is cut short (the run was killed while "
							"writing it)"
						      : "is not valid JSON");
			json_decref(ev);
			continue;
		}
		const char *what = jstr(ev, "event");
		if (what && !strcmp(what, "start")) {
			if (jstr(ev, "build"))
				snprintf(build, sizeof build, "%s", jstr(ev, "build"));
			json_decref(ev);
			continue;
		}
		if (what && !strcmp(what, "end")) {
			*ended = 1;
			if (json_is_true(json_object_get(ev, "interrupted")))
				*interrupted = 1;
			json_decref(ev);
			continue;
		}
		if (!json_object_get(ev, "build"))
			json_object_set_new(ev, "build", json_string(build));
		json_object_set_new(ev, "t", json_real(jnum(ev, "t", 0) + shift));
		const char *repro = jstr(ev, "repro");
		if (repro) {
			char p[PATH_MAX * 2];
			snprintf(p, sizeof p, "%s/%s", rel, repro);
			json_object_set_new(ev, "repro", json_string(p));
		}
		char *s = json_dumps(ev, JSON_COMPACT);
		json_decref(ev);
		if (!s || fprintf(out, "%s\n", s) < 0) {
			free(s);
			free(line);
			fclose(f);
			fprintf(stderr, "racerepro report: cannot write the merged events: %s\n",
				strerror(errno));
			return -1;
		}
		free(s);
	}
	free(line);
	fclose(f);
	return 0;
}

/* The start time of DIR's run, from its first line; 0 if unknown. */
static double start_of(const char *dir)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/events.jsonl", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	double t = 0;
	if (getline(&line, &cap, f) > 0) {
		json_t *ev = json_loads(line, 0, NULL);
		const char *when = ev ? jstr(ev, "time") : NULL;
		struct tm tm;
		memset(&tm, 0, sizeof tm);
		if (when && strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm))
			t = (double)timegm(&tm);
		json_decref(ev);
	}
	free(line);
	fclose(f);
	return t;
}

static const char *const report_help =
	"usage: racerepro report DIR\n"
	"       racerepro report --merge OUT DIR...\n"
	"\n"
	"Rebuilds DIR/summary.json, summary.md, junit.xml and summary.html from\n"
	"DIR/events.jsonl, so that a run killed before its end (even with SIGKILL)\n"
	"still gets its summary. A run whose log has no end event is reported as\n"
	"interrupted. A cut-short last line (the run died mid-write) is skipped with a\n"
	"note. events.jsonl itself is only read.\n"
	"\n"
	"--merge OUT DIR... joins report folders that lie inside OUT (say, one per\n"
	"scenario, variant and build) into one report in OUT: a merged events.jsonl\n"
	"(each line gains the build that wrote it) and the summary files, with one\n"
	"JUnit test suite per build.\n"
	"\n"
	"Exit status: 0 the verdict holds, 1 it does not (a fixed variant failed, a\n"
	"buggy one was missed, or the run was interrupted), 2 bad arguments or no\n"
	"readable events.jsonl, 3 the summary files could not be written.\n";

static int usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "racerepro report: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return RR_EXIT_USAGE;
}

int rr__cmd_report(int argc, char **argv)
{
	const char *dir = NULL, *merge_out = NULL;
	const char *inputs[RR_MAX_CELLS];
	int ninputs = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(report_help, stdout);
			return RR_EXIT_OK;
		} else if (!strcmp(argv[i], "--merge")) {
			if (i + 1 >= argc)
				return usage("%s needs an output folder (see --help)", argv[i]);
			merge_out = argv[++i];
		} else if (argv[i][0] == '-') {
			return usage("unknown option '%s' (see racerepro report --help)", argv[i]);
		} else if (merge_out) {
			if (ninputs == RR_MAX_CELLS)
				return usage("--merge takes at most 64 folders; '%s' is one too many",
					     argv[i]);
			inputs[ninputs++] = argv[i];
		} else if (!dir) {
			dir = argv[i];
		} else {
			return usage("takes one report folder; '%s' is a second (see --help)", argv[i]);
		}
	}
	if (merge_out && dir)
		return usage("give DIR or --merge OUT DIR..., not both (see --help)", "");
	if (!merge_out && !dir)
		return usage("needs a report folder: racerepro report DIR%s", "");
	if (merge_out && !ninputs)
		return usage("--merge %s needs the folders to merge", merge_out);

	static struct rr__run run;
	static struct rebuild rb;
	memset(&run, 0, sizeof run);
	memset(&rb, 0, sizeof rb);
	rb.run = &run;
	run.events_fd = -1;
	snprintf(rb.run_build, sizeof rb.run_build, "%s", RR_BUILD_NAME);
	char events[PATH_MAX + 32];
	struct stat st;
	int merged_interrupted = 0;

	if (merge_out) {
		/* Every cell of a merged report names its build. */
		rb.mixed_builds = 1;
		if (stat(merge_out, &st) < 0 || !S_ISDIR(st.st_mode))
			return usage("--merge %s: not a folder", merge_out);
		double t_min = 0;
		for (int i = 0; i < ninputs; i++) {
			double t = start_of(inputs[i]);
			if (t > 0 && (t_min == 0 || t < t_min))
				t_min = t;
		}
		snprintf(events, sizeof events, "%s/events.jsonl", merge_out);
		char tmp[PATH_MAX + 48];
		snprintf(tmp, sizeof tmp, "%s/events.jsonl.tmp", merge_out);
		FILE *out = fopen(tmp, "w");
		if (!out) {
			fprintf(stderr, "racerepro report: cannot write %s: %s\n", tmp, strerror(errno));
			return RR_EXIT_ENV;
		}
		/* A start line of its own: the merged run began with its first part. */
		char when[32] = "1970-01-01T00:00:00Z";
		time_t tt = (time_t)t_min;
		struct tm tm;
		gmtime_r(&tt, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		char stamp[32];
		strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
		json_t *start = json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "start", "run_id",
					  "", "time", when, "build", "merged", "command", "");
		char id[96], cmd[2048];
		snprintf(id, sizeof id, "%s-merged-%d", stamp, (int)getpid());
		size_t n = (size_t)snprintf(cmd, sizeof cmd, "racerepro report --merge %s", merge_out);
		for (int i = 0; i < ninputs && n < sizeof cmd; i++)
			n += (size_t)snprintf(cmd + n, sizeof cmd - n, " %s", inputs[i]);
		json_object_set_new(start, "run_id", json_string(id));
		json_object_set_new(start, "command", json_string(cmd));
		char *s = json_dumps(start, JSON_COMPACT);
		json_decref(start);
		if (!s || fprintf(out, "%s\n", s) < 0) {
			free(s);
			fclose(out);
			unlink(tmp);
			fprintf(stderr, "racerepro report: cannot write %s\n", tmp);
			return RR_EXIT_ENV;
		}
		free(s);
		for (int i = 0; i < ninputs; i++) {
			char rel[PATH_MAX];
			if (relative_inside(merge_out, inputs[i], rel, sizeof rel) < 0) {
				fclose(out);
				unlink(tmp);
				return usage("--merge: %s is not a folder inside OUT (put the parts in "
					     "OUT's subfolders)",
					     inputs[i]);
			}
			double t = start_of(inputs[i]);
			int ended;
			if (merge_one(out, inputs[i], rel, t > 0 && t_min > 0 ? t - t_min : 0, &ended,
				      &merged_interrupted, &rb.skipped_lines) < 0) {
				fclose(out);
				unlink(tmp);
				return RR_EXIT_USAGE;
			}
			if (!ended) {
				fprintf(stderr,
					"racerepro report: note: %s has no end event: counted as "
					"interrupted\n",
					inputs[i]);
				merged_interrupted = 1;
			}
		}
		if (fflush(out) || fsync(fileno(out)) || fclose(out) || rename(tmp, events) < 0) {
			fprintf(stderr, "racerepro report: cannot write %s: %s\n", events,
				strerror(errno));
			unlink(tmp);
			return RR_EXIT_ENV;
		}
		dir = merge_out;
	} else {
		if (stat(dir, &st) < 0)
			return usage("%s: no such folder (give a report folder, such as "
				     "reports/latest)",
				     dir);
		if (!S_ISDIR(st.st_mode))
			return usage("%s is not a folder (give a report folder, such as reports/latest)",
				     dir);
		snprintf(events, sizeof events, "%s/events.jsonl", dir);
		if (access(events, R_OK) < 0)
			return usage("%s has no readable events.jsonl: not a racerepro report folder",
				     dir);
	}
	snprintf(run.dir, sizeof run.dir, "%s", dir);
	/* Remove a trailing slash so that replay commands read well. */
	size_t dl = strlen(run.dir);
	while (dl > 1 && run.dir[dl - 1] == '/')
		run.dir[--dl] = '\0';
	int rc = read_events(&rb, events);
	if (rc < 0)
		return usage("cannot read %s", events);
	if (!rb.have_start && !run.ncells)
		return usage("%s holds no racerepro events", events);
	if (!rb.have_start)
		snprintf(run.run_id, sizeof run.run_id, "unknown");
	settle(&rb);
	self_path_from(&run);
	if (merge_out) {
		run.interrupted = merged_interrupted;
		/* The merged log is ours: rr__report_finish appends its end line. */
		run.events_fd = open(events, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (run.events_fd < 0) {
			fprintf(stderr, "racerepro report: cannot append to %s: %s\n", events,
				strerror(errno));
			return RR_EXIT_ENV;
		}
	} else {
		run.interrupted = !rb.have_end || rb.end_interrupted;
		/* The run's own log is evidence: a rebuild only reads it. Appending
		 * an end line would also make a second rebuild take an interrupted
		 * run for a finished one. (events_fd stays -1, so
		 * rr__report_finish writes no end line.) */
		if (strcmp(rb.run_build, RR_BUILD_NAME))
			fprintf(stderr,
				"racerepro report: note: the run used the %s build and this binary is "
				"%s: summary.json's \"build\" names this binary's; each cell's env "
				"names the run's\n",
				rb.run_build, RR_BUILD_NAME);
	}
	int holds = rr__report_finish(&run);
	if (merge_out && write_merged_junit(&rb) < 0)
		run.write_failed = 1;
	int interrupted_cells = 0;
	for (int i = 0; i < run.ncells; i++)
		interrupted_cells += run.cells[i].interrupted;
	fprintf(stderr,
		"racerepro report: %s: %d cells%s%s, %d lines skipped; verdict %s; wrote "
		"summary.json, summary.md, junit.xml, summary.html\n",
		run.dir, run.ncells, run.interrupted ? ", run interrupted" : "",
		interrupted_cells ? " (some cut short)" : "", rb.skipped_lines,
		holds ? "holds" : "does not hold");
	if (run.write_failed)
		return RR_EXIT_ENV;
	return holds ? RR_EXIT_OK : RR_EXIT_FINDING;
}
