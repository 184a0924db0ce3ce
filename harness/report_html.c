/*
 * report_html.c: summary.html, the report folder's page for people.
 *
 * Self-contained on purpose: inline CSS, inline SVG, no script, no external
 * resource, so that a CI artifact opens straight from the zip, offline, and a
 * headless browser can check it. Sections: the verdict table (id="verdicts"),
 * the iteration rate over time (read back from events.jsonl with jansson), and
 * each failure signature with its message, replay command, trace and any
 * sanitizer log (from its failures/ folder). Every piece of text that comes
 * from a run is escaped: messages and traces quote scenario output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "fileio.h"
#include "report.h"


/* Escapes S for HTML text and attribute values. Control characters other than
 * newline and tab become U+FFFD: they are not allowed in HTML. */
static void esc(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
				fputs("&#xFFFD;", f);
			else
				fputc(*p, f);
		}
	}
}

/* Prints up to CAP bytes of a text file, escaped; returns 0 if it exists. */
static int esc_file(FILE *f, const char *path, size_t cap)
{
	FILE *in = fopen(path, "r");
	if (!in)
		return -1;
	char *buf = malloc(cap + 1);
	if (!buf) {
		fclose(in);
		return -1;
	}
	size_t n = fread(buf, 1, cap, in);
	int more = fgetc(in) != EOF;
	fclose(in);
	/* Do not end inside a UTF-8 sequence. */
	while (more && n > 0 && ((unsigned char)buf[n - 1] & 0xc0) == 0x80)
		n--;
	if (more && n > 0 && ((unsigned char)buf[n - 1] & 0xc0) == 0xc0)
		n--;
	buf[n] = '\0';
	esc(f, buf);
	if (more)
		fprintf(f, "\n[... cut at %zu bytes; the whole file is %s]", cap, path);
	free(buf);
	return 0;
}

/* ---- the rate over time ---------------------------------------------------- */

#define MAX_SERIES RR_MAX_CELLS
#define MAX_POINTS 2048
#define MAX_MARKS 512

struct series {
	char label[160];
	int n;
	double t[MAX_POINTS];
	double it[MAX_POINTS];
};

struct mark {
	double t;
	int series;
	char what[200];
};

struct chart {
	int nseries;
	struct series s[MAX_SERIES];
	int nmarks;
	struct mark marks[MAX_MARKS];
};

static int series_of(struct chart *c, json_t *ev)
{
	const char *sc = json_string_value(json_object_get(ev, "scenario"));
	const char *v = json_string_value(json_object_get(ev, "variant"));
	const char *b = json_string_value(json_object_get(ev, "build"));
	if (!sc || !v)
		return -1;
	char label[160];
	snprintf(label, sizeof label, "%s/%s%s%s%s", sc, v, b ? " [" : "", b ? b : "", b ? "]" : "");
	for (int i = 0; i < c->nseries; i++)
		if (!strcmp(c->s[i].label, label))
			return i;
	if (c->nseries == MAX_SERIES)
		return -1;
	struct series *s = &c->s[c->nseries];
	memset(s, 0, sizeof *s);
	snprintf(s->label, sizeof s->label, "%s", label);
	return c->nseries++;
}

/* One line of events.jsonl: progress and cell_end lines are points of the
 * rate chart, a new failure is a mark. */
static int chart_line(json_t *ev, void *arg)
{
	struct chart *c = arg;
	const char *what = json_string_value(json_object_get(ev, "event"));
	double t = json_number_value(json_object_get(ev, "t"));
	if (what && (!strcmp(what, "progress") || !strcmp(what, "cell_end"))) {
		int i = series_of(c, ev);
		struct series *s = i >= 0 ? &c->s[i] : NULL;
		double it = json_number_value(json_object_get(ev, "iterations"));
		double el = json_number_value(json_object_get(ev, "elapsed_s"));
		/* A cell's first line also says when it began (at 0). */
		if (s && s->n == 0 && s->n < MAX_POINTS) {
			s->t[0] = t - el > 0 ? t - el : 0;
			s->it[0] = 0;
			s->n = 1;
		}
		/* A line close behind the previous one (a cell's final line
		 * right after a progress line) extends that interval rather
		 * than making a sliver whose rate is noise. */
		if (s && s->n >= 2 && t - s->t[s->n - 1] < 0.5 && t >= s->t[s->n - 1] &&
		    it >= s->it[s->n - 1]) {
			s->t[s->n - 1] = t;
			s->it[s->n - 1] = it;
		} else if (s && s->n < MAX_POINTS && t >= s->t[s->n - 1] && it >= s->it[s->n - 1]) {
			s->t[s->n] = t;
			s->it[s->n] = it;
			s->n++;
		}
	} else if (what && !strcmp(what, "failure") && c->nmarks < MAX_MARKS &&
		   json_is_true(json_object_get(ev, "new"))) {
		struct mark *m = &c->marks[c->nmarks++];
		m->t = t;
		m->series = series_of(c, ev);
		const char *sig = json_string_value(json_object_get(ev, "signature"));
		snprintf(m->what, sizeof m->what, "%s", sig ? sig : "failure");
	}
	return 0;
}

/* Reads the chart from events.jsonl; lines that do not parse (a killed run's
 * last one) are left out, silently: `racerepro report` notes them. */
static void read_chart(const char *dir, struct chart *c)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/events.jsonl", dir);
	rr__events_read(path, NULL, NULL, chart_line, c);
}

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
				      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* A round step for about N ticks over [0, MAX]. */
static double tick_step(double max, int n)
{
	double raw = max / n, mag = pow(10, floor(log10(raw)));
	double r = raw / mag;
	return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

static void write_chart(FILE *f, const struct chart *c)
{
	const int W = 920, H = 300, L = 70, R = 20, T = 16, B = 44;
	double tmax = 0, rmax = 0;
	for (int i = 0; i < c->nseries; i++) {
		const struct series *s = &c->s[i];
		for (int k = 1; k < s->n; k++) {
			double dt = s->t[k] - s->t[k - 1];
			if (dt > 1e-3 && (s->it[k] - s->it[k - 1]) / dt > rmax)
				rmax = (s->it[k] - s->it[k - 1]) / dt;
			if (s->t[k] > tmax)
				tmax = s->t[k];
		}
	}
	for (int i = 0; i < c->nmarks; i++)
		if (c->marks[i].t > tmax)
			tmax = c->marks[i].t;
	if (tmax <= 0 || rmax <= 0) {
		fprintf(f, "<p>No progress was recorded yet, so there is no rate to show.</p>\n");
		return;
	}
	double ts = tick_step(tmax, 8), rs = tick_step(rmax, 5);
	tmax = ceil(tmax / ts) * ts;
	rmax = ceil(rmax * 1.05 / rs) * rs;
	double pw = W - L - R, ph = H - T - B;
#define X(t) (L + (t) / tmax * pw)
#define Y(r) (T + ph - (r) / rmax * ph)
	fprintf(f,
		"<svg id=\"rate\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"iterations per second over the run\">\n",
		W, H, W, H);
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
		   "stroke=\"#999\"/>\n",
		L, T, pw, ph);
	for (int k = 0; k * ts <= tmax + ts / 2; k++) {
		double v = k * ts;
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%g</text>\n",
			X(v), T, X(v), T + ph, X(v), T + ph + 14, v);
	}
	for (int k = 0; k * rs <= rmax + rs / 2; k++) {
		double v = k * rs;
		fprintf(f,
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
			"<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n",
			L, Y(v), L + pw, Y(v), L - 4, Y(v) + 4, v);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">seconds since "
		   "the run started</text>\n",
		L + pw / 2, H - 6);
	fprintf(f, "<text x=\"14\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\" "
		   "transform=\"rotate(-90 14 %.0f)\">iterations/s</text>\n",
		T + ph / 2, T + ph / 2);
	/* Each interval between two lines of a cell is a level segment at that
	 * interval's mean rate. */
	for (int i = 0; i < c->nseries; i++) {
		const struct series *s = &c->s[i];
		const char *col = palette[i % 10];
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
		for (int k = 1; k < s->n; k++) {
			double dt = s->t[k] - s->t[k - 1];
			double r = dt > 1e-3 ? (s->it[k] - s->it[k - 1]) / dt : 0;
			fprintf(f, "%.1f,%.1f %.1f,%.1f ", X(s->t[k - 1]), Y(r), X(s->t[k]), Y(r));
		}
		fprintf(f, "\"><title>");
		esc(f, s->label);
		fprintf(f, "</title></polyline>\n");
	}
	/* New failure signatures: a tick on the time axis. */
	for (int i = 0; i < c->nmarks; i++) {
		const struct mark *m = &c->marks[i];
		fprintf(f,
			"<path d=\"M%.1f %.1f l-4 8 h8 z\" fill=\"%s\" stroke=\"#000\" "
			"stroke-width=\"0.5\"><title>new signature at %.1f s: ",
			X(m->t), T + ph - 8, m->series >= 0 ? palette[m->series % 10] : "#000", m->t);
		esc(f, m->what);
		fprintf(f, "</title></path>\n");
	}
	fprintf(f, "</svg>\n<ul class=\"legend\">\n");
	for (int i = 0; i < c->nseries; i++) {
		fprintf(f, "<li><span class=\"swatch\" style=\"background:%s\"></span>",
			palette[i % 10]);
		esc(f, c->s[i].label);
		fprintf(f, "</li>\n");
	}
	fprintf(f, "<li><span class=\"tri\">&#9650;</span> a new failure signature</li>\n</ul>\n");
#undef X
#undef Y
}

/* ---- the page ------------------------------------------------------------- */

static const char *const css =
	"body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;"
	"padding:0 1em;color:#222}"
	"h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}"
	"h3{font-size:1.05em;margin-bottom:.3em}"
	"table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25em .6em;"
	"text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}"
	"th{background:#f0f0f0}"
	".ok{background:#dff3df}.bad{background:#f8d7d7}.warn{background:#fff1c9}"
	".verdict{font-weight:bold;padding:.2em .6em;display:inline-block}"
	"pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:28em;font-size:12px}"
	"code{font-size:12px}.legend{list-style:none;padding:0}.legend li{display:inline-block;"
	"margin-right:1.2em}.swatch{display:inline-block;width:1.2em;height:.6em;margin-right:.3em}"
	".tri{font-size:.8em;margin-right:.3em}.muted{color:#666}";

static const char *verdict_class(enum rr_verdict v)
{
	if (v == RR_V_REPRODUCED || v == RR_V_CLEAN)
		return "ok";
	if (v == RR_V_SKIPPED || v == RR_V_ERROR)
		return "warn";
	return "bad";
}

static const char *const verdict_words[RR_NVERDICTS] = {
	[RR_V_REPRODUCED] = "expected failure shown",
	[RR_V_CLEAN] = "no failure",
	[RR_V_MISSED] = "detection miss: the bug did not show",
	[RR_V_FAILED] = "the fixed variant failed",
	[RR_V_ERROR] = "environment error",
	[RR_V_SKIPPED] = "skipped",
};

static uint64_t failures_of(const struct rr__cell *c)
{
	return c->counts[RR_BUG] + c->counts[RR_SANITIZER] + c->counts[RR_CRASH] +
	       c->counts[RR_HANG];
}

static void write_page(FILE *f, struct rr__run *run, const struct chart *chart)
{
	int holds = !run->interrupted;
	for (int i = 0; i < run->ncells; i++) {
		enum rr_verdict v = run->cells[i].verdict;
		holds = holds && strcmp(verdict_class(v), "bad") && v != RR_V_ERROR;
	}
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
		   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
		   "<title>racerepro ");
	esc(f, run->run_id);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>racerepro run ", css);
	esc(f, run->run_id);
	fprintf(f, "</h1>\n<p id=\"overall\" class=\"verdict %s\">Verdict: %s%s</p>\n",
		holds ? "ok" : "bad", holds ? "holds" : "does not hold",
		run->interrupted ? " (the run was interrupted)" : "");
	char when[32] = "?";
	time_t t = (time_t)run->started_wall;
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(f, "<p>Started %s; build of this report's writer: <code>%s</code>. Command:</p>\n"
		   "<pre><code>",
		when, RR_BUILD_NAME);
	esc(f, run->command);
	fprintf(f, "</code></pre>\n");

	fprintf(f, "<h2>Verdicts</h2>\n<table id=\"verdicts\">\n<thead><tr><th>scenario</th>"
		   "<th>variant</th><th>expected</th><th>strategy</th><th>iterations</th>"
		   "<th>failures</th><th>errors</th><th>rate/s</th><th>seconds</th><th>verdict</th>"
		   "<th>notes</th></tr></thead>\n<tbody>\n");
	for (int i = 0; i < run->ncells; i++) {
		const struct rr__cell *c = &run->cells[i];
		enum rr_verdict v = c->verdict;
		fprintf(f, "<tr class=\"%s\" data-verdict=\"%s\"><td>", verdict_class(v),
			rr__verdict_names[v]);
		esc(f, c->scenario->name);
		fprintf(f, "</td><td>");
		esc(f, c->variant->name);
		fprintf(f, "</td><td>%s</td><td>%s</td>",
			c->variant->expect_failure ? "to fail" : "not to fail",
			rr__strategy_names[c->strategy]);
		fprintf(f,
			"<td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64
			"</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%.0f</td>"
			"<td class=\"n\">%.1f</td>",
			c->iterations, failures_of(c), c->counts[RR_ERROR],
			c->elapsed_s > 0 ? (double)c->iterations / c->elapsed_s : 0.0, c->elapsed_s);
		fprintf(f, "<td><b>%s</b><br/><span class=\"muted\">%s</span></td><td>", rr__verdict_names[v],
			verdict_words[v]);
		if (c->interrupted)
			fprintf(f, "cut short by the interruption<br/>");
		if (c->skipped) {
			fprintf(f, "skipped: ");
			esc(f, c->skip_reason);
			fprintf(f, "<br/>");
		}
		if (c->fix_p >= 0) {
			char fc[512];
			rr__fix_confidence_text(c, fc, sizeof fc);
			fprintf(f, "fix confidence: ");
			esc(f, fc);
			fprintf(f, "<br/>");
		}
		if (c->has_failure)
			fprintf(f, "first failure at iteration %" PRIu64 " (%.3f s)<br/>",
				c->first_failure_iteration, c->first_failure_s);
		for (int k = 0; k < c->nnotes; k++) {
			esc(f, c->notes[k][0]);
			fprintf(f, ": ");
			esc(f, c->notes[k][1]);
			fprintf(f, "<br/>");
		}
		fprintf(f, "</td></tr>\n");
	}
	fprintf(f, "</tbody>\n</table>\n");

	fprintf(f, "<h2>Rate over time</h2>\n");
	write_chart(f, chart);

	fprintf(f, "<h2>Failures</h2>\n");
	int nsig = 0;
	for (int i = 0; i < run->ncells; i++) {
		const struct rr__cell *c = &run->cells[i];
		for (int k = 0; k < c->nsigs; k++) {
			const struct rr__signature *s = &c->sigs[k];
			nsig++;
			fprintf(f, "<div class=\"failure\">\n<h3>");
			esc(f, c->scenario->name);
			fputc('/', f);
			esc(f, c->variant->name);
			fprintf(f, ": <code>");
			esc(f, s->sig);
			fprintf(f, "</code></h3>\n<p>%s, seen %" PRIu64 " times; first at iteration %" PRIu64
				   " (%.3f s) under strategy ",
				rr__outcome_names[s->klass], s->count, s->first_iteration, s->first_s);
			esc(f, s->strategy);
			fprintf(f, "%s. ", c->variant->expect_failure ? " (the expected failure)"
								     : " (<b>a regression</b>)");
			esc(f, s->message);
			fprintf(f, "</p>\n<p>Replay:</p>\n<pre><code>");
			char cmd[PATH_MAX * 3];
			snprintf(cmd, sizeof cmd, "%s replay %s/%s/failure.repro", run->self_path,
				 run->dir, s->dir);
			esc(f, cmd);
			fprintf(f, "</code></pre>\n");
			char path[PATH_MAX * 2];
			snprintf(path, sizeof path, "%s/%s/trace.txt", run->dir, s->dir);
			fprintf(f, "<details open=\"open\"><summary>trace (<code>");
			esc(f, s->dir);
			fprintf(f, "/trace.txt</code>)</summary>\n<pre class=\"trace\">");
			if (esc_file(f, path, 64 * 1024) < 0)
				fprintf(f, "(no trace.txt in this folder)");
			fprintf(f, "</pre></details>\n");
			snprintf(path, sizeof path, "%s/%s/sanitizer.log", run->dir, s->dir);
			if (access(path, R_OK) == 0) {
				fprintf(f, "<details><summary>sanitizer log</summary>\n<pre>");
				esc_file(f, path, 32 * 1024);
				fprintf(f, "</pre></details>\n");
			}
			fprintf(f, "</div>\n");
		}
	}
	if (!nsig)
		fprintf(f, "<p>None.</p>\n");
	fprintf(f, "<p class=\"muted\">Written by racerepro from <code>events.jsonl</code>; "
		   "<code>summary.json</code>, <code>summary.md</code> and <code>junit.xml</code> "
		   "hold the same results.</p>\n</body>\n</html>\n");
}

void rr__report_html(struct rr__run *run)
{
	struct chart *chart = calloc(1, sizeof *chart);
	if (!chart) {
		fprintf(stderr, "racerepro: cannot write summary.html: out of memory\n");
		return;
	}
	read_chart(run->dir, chart);
	/* Atomic, like the other summary files: a full disk keeps the old page. */
	char tmp[PATH_MAX + 32];
	FILE *f = rr__report_file_open(run, "summary.html", tmp, sizeof tmp);
	if (!f) {
		free(chart);
		return;
	}
	write_page(f, run, chart);
	free(chart);
	rr__report_file_close(run, f, "summary.html", tmp);
}
