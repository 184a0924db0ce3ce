/*
 * seed.c: timing seeds, the option parsers, and the reproducer file format.
 *
 * A reproducer is plain text, one "key value" per line, so that a person can
 * read it and a reviewer can diff it:
 *
 *   racerepro-repro 1
 *   scenario broken_pipe
 *   variant buggy
 *   strategy pct
 *   seed 0x5eed0000000000a1
 *   pct-depth 3
 *   pct-steps 24
 *   surw-expect loop=4 client-1=3      (surw: what the iteration expected)
 *   schedule 00 01 00 02
 *   build none
 *   signature bug:write(m_post_fd, &buffer, 1): Broken pipe
 *   found-by portfolio
 *   param work_us=20
 *
 * For `input` the schedule is the decision string itself; for random and pct
 * it is the decisions the run took, so `minimize` can turn it into an input.
 *
 * Version 2 is version 1 plus an `input` whose timing seed is an abstract
 * schedule (schedule.h): a base sampler with its seed and parameters, and
 * overrides by role name, instead of the decision bytes:
 *
 *   racerepro-repro 2
 *   scenario broken_pipe
 *   variant buggy
 *   strategy input
 *   base surw
 *   seed 0x00000000000000a1
 *   surw-expect loop=3 async=3
 *   override async 2 loop          (at async's race point #2, loop runs)
 *   build none
 *   signature ...
 *
 * A file without base lines is written as version 1, so version-1 files and
 * their meaning (the bytes, then the current thread keeps running) stay.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rr_internal.h"

#define REPRO_MAGIC "racerepro-repro"
#define REPRO_VERSION 1
#define REPRO_VERSION_ABSTRACT 2 /* input as an abstract schedule: base, override */

uint64_t rr__splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t rr__iteration_seed(uint64_t run_seed, uint64_t index)
{
	uint64_t st = run_seed ^ (index * 0xd1342543de82ef95ull);
	return rr__splitmix64(&st);
}

int rr__parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* "90" (seconds), "500ms", "30s", "5m", "2h". */
int rr__parse_duration(const char *s, uint64_t *ns)
{
	if (!s || !isdigit((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || v < 0)
		return -1;
	double mult;
	if (!*end || !strcmp(end, "s"))
		mult = 1e9;
	else if (!strcmp(end, "ms"))
		mult = 1e6;
	else if (!strcmp(end, "m"))
		mult = 60e9;
	else if (!strcmp(end, "h"))
		mult = 3600e9;
	else
		return -1;
	double total = v * mult;
	if (total < 1 || total > 1e9 * 86400.0 * 365) /* < 1 ns would truncate to 0: unlimited */
		return -1;
	*ns = (uint64_t)total;
	return 0;
}

int rr__repro_write(const char *path, const struct rr__repro *r)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	/* Version 1 files stay byte for byte what they were; only an abstract
	 * schedule needs version 2. */
	fprintf(f, "%s %d\n", REPRO_MAGIC, r->base[0] ? REPRO_VERSION_ABSTRACT : REPRO_VERSION);
	fprintf(f, "scenario %s\nvariant %s\nstrategy %s\n", r->scenario, r->variant, r->strategy);
	if (r->base[0])
		fprintf(f, "base %s\n", r->base);
	fprintf(f, "seed 0x%016" PRIx64 "\n", r->seed);
	/* 0 means "the default" (depth 3, steps learned): such a line is left out. */
	const char *sampler = r->base[0] ? r->base : r->strategy;
	if (!strcmp(sampler, "pct") && r->pct_depth)
		fprintf(f, "pct-depth %u\n", r->pct_depth);
	if (!strcmp(sampler, "pct") && r->pct_steps)
		fprintf(f, "pct-steps %u\n", r->pct_steps);
	if (r->surw_expect[0])
		fprintf(f, "surw-expect %s\n", r->surw_expect);
	for (int i = 0; i < r->noverrides; i++)
		fprintf(f, "override %s %u %s\n", r->overrides[i].role, r->overrides[i].k,
			r->overrides[i].target);
	if (!r->base[0]) {
		fprintf(f, "schedule");
		for (uint32_t i = 0; i < r->nschedule; i++)
			fprintf(f, " %02x", r->schedule[i]);
		fputc('\n', f);
	}
	fprintf(f, "build %s\nsignature %s\n", r->build, r->signature);
	if (r->found_by[0])
		fprintf(f, "found-by %s\n", r->found_by);
	for (int i = 0; i < r->nparams; i++)
		fprintf(f, "param %s=%s\n", r->param_names[i], r->param_values[i]);
	int bad = ferror(f);
	if (fflush(f) || fsync(fd))
		bad = 1;
	int e = errno;
	fclose(f);
	if (bad || rename(tmp, path) < 0) {
		unlink(tmp);
		return -(e ? e : EIO);
	}
	return 0;
}

static int set_err(char *err, size_t cap, int line, const char *fmt, const char *arg)
{
	char what[256];
	snprintf(what, sizeof what, fmt, arg);
	snprintf(err, cap, "line %d: %s", line, what);
	return -1;
}

static int copy_field(char *dst, size_t cap, const char *v)
{
	if (!*v || strlen(v) >= cap)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* "ROLE=N ROLE=N ...": what rr__surw_preset accepts. */
static int valid_expect(const char *v)
{
	int terms = 0;
	while (*v) {
		const char *start = v;
		while (*v && *v != '=' && *v != ' ')
			v++;
		if (*v != '=' || v == start || v - start >= 24)
			return 0;
		v++;
		if (!isdigit((unsigned char)*v))
			return 0;
		while (isdigit((unsigned char)*v))
			v++;
		terms++;
		if (*v == ' ' && v[1])
			v++;
		else if (*v)
			return 0;
	}
	return terms > 0;
}

int rr__repro_parse(const char *text, size_t len, struct rr__repro *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	int lineno = 0, have_version = 0;
	unsigned seen = 0;
	enum { F_SCEN = 1, F_VAR = 2, F_STRAT = 4, F_SEED = 8, F_BUILD = 16, F_SIG = 32 };
	size_t pos = 0;
	if (len == 0)
		return set_err(err, errlen, 1, "%s", "the file is empty (expected 'racerepro-repro 1')");
	while (pos < len) {
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		/* The longest line the writer makes: a full schedule, 3 chars a byte. */
		char line[RR_MAX_SCHEDULE * 3 + 64];
		size_t n = end - pos;
		if (n >= sizeof line)
			return set_err(err, errlen, lineno, "%s", "line too long");
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (memchr(line, '\0', n))
			return set_err(err, errlen, lineno, "%s", "contains a NUL byte");
		pos = end + 1;
		while (n && line[n - 1] == '\r') /* all of them: the writer could not write "x\r" back */
			line[--n] = '\0';
		if (!n || line[0] == '#')
			continue;
		char *sp = strchr(line, ' ');
		const char *key = line, *val = "";
		if (sp) {
			*sp = '\0';
			val = sp + 1;
		}
		if (!have_version) {
			if (strcmp(key, REPRO_MAGIC))
				return set_err(err, errlen, lineno,
					       "not a racerepro reproducer (expected '%s 1' first)",
					       REPRO_MAGIC);
			if (strcmp(val, "1") && strcmp(val, "2"))
				return set_err(err, errlen, lineno,
					       "unknown format version '%s' (this racerepro reads 1 and 2)",
					       val);
			have_version = val[0] - '0';
			continue;
		}
		if (!strcmp(key, "scenario")) {
			if (copy_field(r->scenario, sizeof r->scenario, val))
				return set_err(err, errlen, lineno, "bad scenario '%s'", val);
			seen |= F_SCEN;
		} else if (!strcmp(key, "variant")) {
			if (copy_field(r->variant, sizeof r->variant, val))
				return set_err(err, errlen, lineno, "bad variant '%s'", val);
			seen |= F_VAR;
		} else if (!strcmp(key, "strategy")) {
			if (rr__strategy_parse(val) < 0 || !strcmp(val, "portfolio") ||
			    copy_field(r->strategy, sizeof r->strategy, val))
				return set_err(err, errlen, lineno, "unknown strategy '%s'", val);
			seen |= F_STRAT;
		} else if (!strcmp(key, "seed")) {
			if (rr__parse_u64(val, &r->seed))
				return set_err(err, errlen, lineno, "bad seed '%s' (expected 0x...)", val);
			seen |= F_SEED;
		} else if (!strcmp(key, "pct-depth") || !strcmp(key, "pct-steps")) {
			uint64_t v;
			if (rr__parse_u64(val, &v) || v == 0 || v > 1000000)
				return set_err(err, errlen, lineno, "bad value '%s'", val);
			if (key[4] == 'd')
				r->pct_depth = (uint32_t)v;
			else
				r->pct_steps = (uint32_t)v;
		} else if (!strcmp(key, "surw-expect")) {
			if (!valid_expect(val) || copy_field(r->surw_expect, sizeof r->surw_expect, val))
				return set_err(err, errlen, lineno,
					       "bad surw-expect '%s' (expected ROLE=N ...)", val);
		} else if (have_version >= 2 && !strcmp(key, "base")) {
			int b = rr__strategy_parse(val);
			if ((b != RR_STRAT_RANDOM && b != RR_STRAT_PCT && b != RR_STRAT_SURW &&
			     b != RR_STRAT_POS) ||
			    copy_field(r->base, sizeof r->base, val))
				return set_err(err, errlen, lineno,
					       "unknown base sampler '%s' (random, pct, surw or pos)", val);
		} else if (have_version >= 2 && !strcmp(key, "override")) {
			struct rr__repro_override *o = &r->overrides[r->noverrides];
			char role[64], target[64];
			unsigned k;
			char extra;
			if (r->noverrides >= RR_MAX_OVERRIDES ||
			    sscanf(val, "%63s %u %63s %c", role, &k, target, &extra) != 3 ||
			    k > 0xffff || copy_field(o->role, sizeof o->role, role) ||
			    copy_field(o->target, sizeof o->target, target))
				return set_err(err, errlen, lineno,
					       "bad override '%s' (expected ROLE K TARGET)", val);
			o->k = k;
			r->noverrides++;
		} else if (!strcmp(key, "schedule")) {
			const char *p = val;
			while (*p) {
				while (*p == ' ')
					p++;
				if (!*p)
					break;
				if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
				    (p[2] && p[2] != ' '))
					return set_err(err, errlen, lineno, "%s",
						       "bad schedule byte (expected two hex digits each)");
				if (r->nschedule >= RR_MAX_SCHEDULE)
					return set_err(err, errlen, lineno, "%s", "schedule too long");
				char hex[3] = {p[0], p[1], 0};
				r->schedule[r->nschedule++] = (uint8_t)strtoul(hex, NULL, 16);
				p += 2;
			}
		} else if (!strcmp(key, "build")) {
			if (strcmp(val, "none") && strcmp(val, "asan") && strcmp(val, "tsan") &&
			    strcmp(val, "ubsan"))
				return set_err(err, errlen, lineno, "unknown build '%s'", val);
			copy_field(r->build, sizeof r->build, val);
			seen |= F_BUILD;
		} else if (!strcmp(key, "signature")) {
			if (copy_field(r->signature, sizeof r->signature, val))
				return set_err(err, errlen, lineno, "%s", "bad signature");
			seen |= F_SIG;
		} else if (!strcmp(key, "found-by")) {
			copy_field(r->found_by, sizeof r->found_by, val);
		} else if (!strcmp(key, "param")) {
			const char *eq = strchr(val, '=');
			if (!eq || eq == val || r->nparams >= RR_MAX_PARAMS ||
			    (size_t)(eq - val) >= sizeof r->param_names[0] ||
			    strlen(eq + 1) >= sizeof r->param_values[0])
				return set_err(err, errlen, lineno, "bad param '%s' (expected NAME=VALUE)",
					       val);
			memcpy(r->param_names[r->nparams], val, (size_t)(eq - val));
			r->param_names[r->nparams][eq - val] = '\0';
			memcpy(r->param_values[r->nparams], eq + 1, strlen(eq + 1) + 1);
			r->nparams++;
		} else {
			return set_err(err, errlen, lineno, "unknown key '%s'", key);
		}
	}
	if (!have_version)
		return set_err(err, errlen, lineno, "%s", "the file is empty (expected 'racerepro-repro 1')");
	if ((r->base[0] || r->noverrides) && strcmp(r->strategy, "input"))
		return set_err(err, errlen, lineno, "%s",
			       "base and override lines belong to strategy input only");
	if (r->noverrides && !r->base[0])
		return set_err(err, errlen, lineno, "%s", "override lines need a base line");
	static const struct {
		unsigned bit;
		const char *name;
	} req[] = {{F_SCEN, "scenario"}, {F_VAR, "variant"}, {F_STRAT, "strategy"},
		   {F_SEED, "seed"},     {F_BUILD, "build"},  {F_SIG, "signature"}};
	for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
		if (!(seen & req[i].bit))
			return set_err(err, errlen, lineno + 1,
				       "truncated: no '%s' line before the end of the file", req[i].name);
	return 0;
}

int rr__repro_read(const char *path, struct rr__repro *r, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			free(buf);
			close(fd);
			snprintf(err, errlen, "file larger than %zu bytes: not a reproducer", cap);
			return -1;
		}
	}
	close(fd);
	int rc = rr__repro_parse(buf, len, r, err, errlen);
	free(buf);
	return rc;
}
