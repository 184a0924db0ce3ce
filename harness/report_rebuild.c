/*
 * report_rebuild.c: `racerepro report DIR` rebuilds summary.json, summary.md,
 * junit.xml and summary.html from DIR/events.jsonl, so that a run killed
 * before its end (SIGKILL, a CI timeout, a full disk) still gets a summary;
 * `racerepro report --merge OUT DIR...` joins several report folders (the
 * nightly soak's per-cell runs, possibly of different builds) into one.
 *
 * events.jsonl is the record of truth, and the rebuild reads it as it is
 * written, without guessing: every progress, cell_end and failure line carries
 * the cell's whole state (counts, per-strategy counts, environment notes,
 * first failure, each signature's exact count), so a cell is what its last
 * line says; failure lines add each signature's class, message, role, first
 * iteration and seconds, strategy and evidence folder. A cell with no
 * cell_end line was cut short; no `end` line means the run was interrupted.
 * Not in the events, so not rebuilt: scenario parameters set with --param
 * (summary.json shows the defaults).
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

#include "events.h"
#include "fileio.h"
#include "report.h"


/* Everything the rebuild learns beyond struct rr__run. */
struct rebuild {
	struct rr__run *run;
	char build[RR_MAX_CELLS][16]; /* per cell: the build that ran it */
	int ended[RR_MAX_CELLS];      /* a cell_end line was seen */
	double last_t_run;
	int have_start, have_end, end_interrupted;
	char run_build[16];
	int skipped_lines;
	int mixed_builds;
};

#define jstr rr__ev_str
#define jnum rr__ev_num
#define ju64 rr__ev_u64

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
	return i;
}

/* A cell's state, from a progress, cell_end or failure line (report.c's
 * cell_fields): the last line of a cell wins. */
static void take_cell_state(struct rebuild *rb, int i, json_t *ev, const char *what)
{
	struct rr__cell *c = &rb->run->cells[i];
	if (strcmp(what, "failure")) {
		/* A failure line's strategy and seed are its iteration's. */
		int st = rr__strategy_parse(jstr(ev, "strategy") ? jstr(ev, "strategy") : "");
		if (st >= 0)
			c->strategy = st;
		uint64_t seed;
		if (jstr(ev, "seed") && rr__parse_u64(jstr(ev, "seed"), &seed) == 0)
			c->seed = seed;
	}
	c->iterations = ju64(ev, "iterations");
	c->elapsed_s = jnum(ev, "elapsed_s", 0);
	json_t *oc = json_object_get(ev, "outcomes");
	for (int k = 0; k < RR_NOUTCOMES; k++)
		c->counts[k] = ju64(oc, rr__outcome_names[k]);
	memset(c->strat_iterations, 0, sizeof c->strat_iterations);
	memset(c->strat_failures, 0, sizeof c->strat_failures);
	const char *key;
	json_t *val;
	json_object_foreach(json_object_get(ev, "by_strategy"), key, val)
	{
		int s = rr__strategy_parse(key);
		if (s < 0)
			continue;
		c->strat_iterations[s] = ju64(val, "iterations");
		c->strat_failures[s] = ju64(val, "failures");
	}
	json_object_foreach(json_object_get(ev, "env"), key, val)
	{
		if (json_is_string(val))
			rr__note_set(c->notes, &c->nnotes, key, json_string_value(val));
	}
	json_object_foreach(json_object_get(ev, "signatures"), key, val)
	{
		for (int k = 0; k < c->nsigs; k++)
			if (!strcmp(c->sigs[k].sig, key) && json_integer_value(val) > 0)
				c->sigs[k].count = (uint64_t)json_integer_value(val);
	}
	json_t *ff = json_object_get(ev, "first_failure");
	c->has_failure = json_is_object(ff);
	if (c->has_failure) {
		c->first_failure_iteration = ju64(ff, "iteration");
		c->first_failure_s = jnum(ff, "seconds", 0);
	}
	c->skipped = json_is_true(json_object_get(ev, "skipped"));
	if (c->skipped)
		snprintf(c->skip_reason, sizeof c->skip_reason, "%s",
			 jstr(ev, "skip_reason") ? jstr(ev, "skip_reason") : "skipped");
	c->interrupted = json_is_true(json_object_get(ev, "interrupted"));
	if (!strcmp(what, "cell_end"))
		rb->ended[i] = 1;
}

/* A failure line's signature, new or seen before. */
static void take_signature(struct rebuild *rb, int i, json_t *ev)
{
	const char *sig = jstr(ev, "signature");
	int klass = outcome_parse(jstr(ev, "class"));
	if (!sig || klass < 0)
		return;
	struct rr__cell *c = &rb->run->cells[i];
	struct rr__signature *s = NULL;
	for (int k = 0; k < c->nsigs; k++)
		if (!strcmp(c->sigs[k].sig, sig))
			s = &c->sigs[k];
	if (!s) {
		if (c->nsigs == RR_MAX_SIGS)
			return;
		s = &c->sigs[c->nsigs++];
		memset(s, 0, sizeof *s);
		snprintf(s->sig, sizeof s->sig, "%s", sig);
		s->klass = klass;
		snprintf(s->message, sizeof s->message, "%s",
			 jstr(ev, "message") ? jstr(ev, "message") : "");
		snprintf(s->role, sizeof s->role, "%s", jstr(ev, "role") ? jstr(ev, "role") : "");
		const char *st = jstr(ev, "strategy");
		snprintf(s->strategy, sizeof s->strategy, "%s", st ? st : "?");
		/* The evidence folder is the reproducer's folder. */
		const char *repro = jstr(ev, "repro");
		if (repro) {
			const char *slash = strrchr(repro, '/');
			snprintf(s->dir, sizeof s->dir, "%.*s",
				 (int)(slash ? (size_t)(slash - repro) : strlen(repro)), repro);
		}
		s->first_iteration = ju64(ev, "first_iteration");
		s->first_s = jnum(ev, "first_seconds", 0);
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

/* One event of the log. */
static int take_line(json_t *ev, void *arg)
{
	struct rebuild *rb = arg;
	const char *what = jstr(ev, "event");
	double t = jnum(ev, "t", 0);
	if (t > rb->last_t_run)
		rb->last_t_run = t;
	struct rr__run *run = rb->run;
	if (!what) {
		/* Not ours: ignored, as are event types a newer report.c adds. */
	} else if (!strcmp(what, "start")) {
		if (!rb->have_start) {
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
			if (rb->have_start && strcmp(rb->run_build, b))
				rb->mixed_builds = 1;
			snprintf(rb->run_build, sizeof rb->run_build, "%s", b);
		}
		rb->have_start++;
	} else if (!strcmp(what, "progress") || !strcmp(what, "cell_end") ||
		   !strcmp(what, "failure")) {
		int i = cell_of(rb, ev);
		if (i < 0)
			return 0;
		if (!strcmp(what, "failure"))
			take_signature(rb, i, ev);
		/* Failure lines of older logs carry no cell state. */
		if (json_object_get(ev, "outcomes"))
			take_cell_state(rb, i, ev, what);
	} else if (!strcmp(what, "end")) {
		rb->have_end = 1;
		rb->end_interrupted = json_is_true(json_object_get(ev, "interrupted"));
	}
	return 0;
}

/* What the log cannot say by itself: which cells were cut short, and the
 * build of each cell where it is not this binary's. */
static void finish_cells(struct rebuild *rb)
{
	struct rr__run *run = rb->run;
	for (int i = 0; i < run->ncells; i++) {
		struct rr__cell *c = &run->cells[i];
		if (!rb->ended[i])
			c->interrupted = 1;
		if (rb->mixed_builds || strcmp(rb->build[i], RR_BUILD_NAME))
			rr__note_set(c->notes, &c->nnotes, "build", rb->build[i]);
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
	snprintf(path, sizeof path, "%s/junit.xml", run->dir);
	FILE *f = rr__atomic_open(path, tmp, sizeof tmp);
	if (!f) {
		fprintf(stderr, "racerepro report: cannot write %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	rr__junit_write(f, run, (const char(*)[16])rb->build);
	int rc = rr__atomic_commit(f, tmp, path);
	if (rc < 0) {
		fprintf(stderr, "racerepro report: cannot write %s: %s\n", path, strerror(-rc));
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

struct merging {
	FILE *out;
	const char *rel;
	double shift;
	char build[16];
	int ended, interrupted, failed;
};

static int merge_line(json_t *ev, void *arg)
{
	struct merging *m = arg;
	const char *what = jstr(ev, "event");
	if (what && !strcmp(what, "start")) {
		if (jstr(ev, "build"))
			snprintf(m->build, sizeof m->build, "%s", jstr(ev, "build"));
		return 0;
	}
	if (what && !strcmp(what, "end")) {
		m->ended = 1;
		m->interrupted |= json_is_true(json_object_get(ev, "interrupted"));
		return 0;
	}
	if (!json_object_get(ev, "build"))
		json_object_set_new(ev, "build", json_string(m->build));
	json_object_set_new(ev, "t", json_real(jnum(ev, "t", 0) + m->shift));
	const char *repro = jstr(ev, "repro");
	if (repro) {
		char p[PATH_MAX * 2];
		snprintf(p, sizeof p, "%s/%s", m->rel, repro);
		json_object_set_new(ev, "repro", json_string(p));
	}
	char *s = json_dumps(ev, JSON_COMPACT);
	int bad = !s || fprintf(m->out, "%s\n", s) < 0;
	free(s);
	if (bad) {
		fprintf(stderr, "racerepro report: cannot write the merged events: %s\n",
			strerror(errno));
		m->failed = 1;
		return -1;
	}
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
	struct merging m = {out, rel, shift, RR_BUILD_NAME, 0, 0, 0};
	int rc = rr__events_read(path, "racerepro report", skipped_lines, merge_line, &m);
	if (rc < 0 && !m.failed)
		fprintf(stderr, "racerepro report: %s: %s\n", path, strerror(-rc));
	if (rc < 0)
		return -1;
	*ended = m.ended;
	*interrupted |= m.interrupted;
	return 0;
}

static int first_time(json_t *ev, void *arg)
{
	const char *when = jstr(ev, "time");
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (when && strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm))
		*(double *)arg = (double)timegm(&tm);
	return 1; /* the first line is enough */
}

/* The start time of DIR's run, from its first line; 0 if unknown. */
static double start_of(const char *dir)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/events.jsonl", dir);
	double t = 0;
	rr__events_read(path, NULL, NULL, first_time, &t);
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
		FILE *out = rr__atomic_open(events, tmp, sizeof tmp);
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
		int wrc = rr__atomic_commit(out, tmp, events);
		if (wrc < 0) {
			fprintf(stderr, "racerepro report: cannot write %s: %s\n", events,
				strerror(-wrc));
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
	int rc = rr__events_read(events, "racerepro report", &rb.skipped_lines, take_line, &rb);
	if (rc < 0)
		return usage("cannot read %s", events);
	if (!rb.have_start && !run.ncells)
		return usage("%s holds no racerepro events", events);
	if (!rb.have_start)
		snprintf(run.run_id, sizeof run.run_id, "unknown");
	finish_cells(&rb);
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
	rr__report_html(&run);
	if (merge_out && write_merged_junit(&rb) < 0)
		run.write_failed = 1;
	int interrupted_cells = 0;
	for (int i = 0; i < run.ncells; i++)
		interrupted_cells += run.cells[i].interrupted;
	/* What could not be written was said once (rr__report_write_error);
	 * never claim it was written. */
	if (run.write_failed)
		return RR_EXIT_ENV;
	fprintf(stderr,
		"racerepro report: %s: %d cells%s%s, %d lines skipped; verdict %s; wrote "
		"summary.json, summary.md, junit.xml, summary.html\n",
		run.dir, run.ncells, run.interrupted ? ", run interrupted" : "",
		interrupted_cells ? " (some cut short)" : "", rb.skipped_lines,
		holds ? "holds" : "does not hold");
	return holds ? RR_EXIT_OK : RR_EXIT_FINDING;
}
