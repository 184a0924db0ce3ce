/*
 * events.c: see events.h. report.c writes events.jsonl one line per write(2);
 * a run killed mid-write leaves its last line cut short, which is the only
 * damage a reader should expect, and neither it nor any other bad line may
 * cost the rest of the file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "events.h"

const char *rr__ev_str(json_t *ev, const char *key)
{
	return json_string_value(json_object_get(ev, key));
}

double rr__ev_num(json_t *ev, const char *key, double def)
{
	json_t *v = json_object_get(ev, key);
	return json_is_number(v) ? json_number_value(v) : def;
}

uint64_t rr__ev_u64(json_t *ev, const char *key)
{
	json_t *v = json_object_get(ev, key);
	if (json_is_integer(v) && json_integer_value(v) > 0)
		return (uint64_t)json_integer_value(v);
	if (json_is_real(v) && json_real_value(v) > 0)
		return (uint64_t)json_real_value(v);
	return 0;
}

int rr__events_read(const char *path, const char *who, int *bad,
		    int (*fn)(json_t *ev, void *arg), void *arg)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0;
	int rc = 0;
	while (!rc && (len = getline(&line, &cap, f)) > 0) {
		lineno++;
		/* getline leaves no newline only on the file's last line. */
		int complete = line[len - 1] == '\n';
		size_t n = (size_t)len;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (!n)
			continue;
		json_error_t e;
		json_t *ev = json_loadb(line, n, 0, &e);
		if (ev && json_is_object(ev)) {
			rc = fn(ev, arg);
			json_decref(ev);
			continue;
		}
		json_decref(ev);
		if (bad)
			(*bad)++;
		if (!who)
			continue;
		if (!complete)
			fprintf(stderr,
				"%s: note: %s line %ld is cut short (the run was killed while writing "
				"it); skipped\n",
				who, path, lineno);
		else
			fprintf(stderr, "%s: note: %s line %ld is not valid JSON (%s); skipped\n", who,
				path, lineno, ev ? "not a JSON object" : e.text);
	}
	if (!rc && ferror(f))
		rc = -EIO;
	free(line);
	fclose(f);
	return rc;
}
