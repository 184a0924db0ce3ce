/*
 * report.h: what a run leaves behind (report.c: events.jsonl, summary.*,
 * junit.xml, the progress line; report_html.c: summary.html;
 * report_rebuild.c: `racerepro report`).
 */
#ifndef RR_REPORT_H
#define RR_REPORT_H

#include <stdio.h>

#include "run.h"

/* The longest events.jsonl line's fields (a cell with every signature). */
#define RR_EVENT_MAX 32768

int rr__report_open(struct rr__run *run, const char *dir, int argc, char **argv);
void rr__report_event(struct rr__run *run, const char *json_fields);
/* A report file could not be written: says so once per run (one line naming
 * the file, the reason and the fix), and stops the run (write_failed). */
void rr__report_write_error(struct rr__run *run, const char *what, int err);
/* A failure line: the signature S as of this occurrence (ITERATION is the
 * iteration's index, from 0, with its concrete STRATEGY and timing SEED),
 * and the cell's state. */
void rr__report_failure(struct rr__run *run, const struct rr__cell *cell,
			const struct rr__signature *s, uint64_t iteration, const char *strategy,
			uint64_t seed, int is_new);
void rr__report_progress(struct rr__run *run, const struct rr__cell *cell, int final);
/* Judges every cell and writes summary.json, summary.md, junit.xml and the
 * end event; returns whether the verdict holds. summary.html is the
 * caller's next step (rr__report_html), so that the page can read the
 * finished events. */
int rr__report_finish(struct rr__run *run);
/* The fix confidence of fixed cell C in words, never "= 0". */
void rr__fix_confidence_text(const struct rr__cell *c, char *buf, size_t cap);
/* Does the run's overall verdict hold? (not interrupted, every cell ok) */
int rr__report_holds(const struct rr__run *run);
void rr__report_print_summary(const struct rr__run *run, FILE *f);
/* RUN->dir/NAME, replaced atomically (fileio.h): open, write, close. A
 * failure is reported once and sets RUN->write_failed. */
FILE *rr__report_file_open(struct rr__run *run, const char *name, char *tmp, size_t cap);
int rr__report_file_close(struct rr__run *run, FILE *f, const char *name, const char *tmp);
void rr__cell_verdict(struct rr__run *run, struct rr__cell *cell);
char *rr__json_escape(const char *s, char *out, size_t cap);
void rr__xml_escape(FILE *f, const char *s);
void rr__junit_testcase(FILE *f, const struct rr__run *run, const struct rr__cell *c,
			const char *build);
/* junit.xml of RUN into F: one testsuite "racerepro"; or, with BUILDS (the
 * build of each cell), one testsuite "racerepro.<build>" per build. */
void rr__junit_write(FILE *f, const struct rr__run *run, const char (*builds)[16]);
/* The cell's planned duration for the progress line's "left", or 0. */
extern double rr__progress_planned_s;

/* report_html.c: summary.html from RUN and its events.jsonl. */
void rr__report_html(struct rr__run *run);

/* report_rebuild.c: `racerepro report ...`; ARGV[0] is "report". */
int rr__cmd_report(int argc, char **argv);

#endif
