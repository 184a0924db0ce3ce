/*
 * repro.c: the reproducer file format, and its mapping to and from a run
 * configuration (the one parameter table, repro.h).
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
 * Version 3 is version 2 plus holds (schedule.h), which the greybox loop
 * makes and every mutated child keeps; only a schedule with holds is
 * written as version 3:
 *
 *   hold setter-2 1 until checker 1   (setter-2 does not pass its race
 *                                      point #1 before checker passed its #1)
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
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "repro.h"

#define REPRO_MAGIC "racerepro-repro"
#define REPRO_VERSION 1
#define REPRO_VERSION_ABSTRACT 2 /* input as an abstract schedule: base, override */
#define REPRO_VERSION_HOLDS 3    /* and holds */

int rr__repro_write(const char *path, const struct rr__repro *r)
{
	char tmp[4096];
	FILE *f = rr__atomic_open(path, tmp, sizeof tmp);
	if (!f)
		return -errno;
	/* Version 1 files stay byte for byte what they were; only an abstract
	 * schedule needs version 2. */
	fprintf(f, "%s %d\n", REPRO_MAGIC,
		r->nholds     ? REPRO_VERSION_HOLDS
		: r->base[0] ? REPRO_VERSION_ABSTRACT
			     : REPRO_VERSION);
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
	for (int i = 0; i < r->nholds; i++)
		fprintf(f, "hold %s %u until %s %u\n", r->holds[i].role, r->holds[i].k,
			r->holds[i].until_role, r->holds[i].until_k);
	if (!r->base[0]) {
		fprintf(f, "schedule");
		for (uint32_t i = 0; i < r->nschedule; i++)
			fprintf(f, " %02x", r->schedule[i]);
		fputc('\n', f);
	}
	fprintf(f, "build %s\nsignature %s\n", r->build, r->signature);
	if (r->found_by[0])
		fprintf(f, "found-by %s\n", r->found_by);
	for (int i = 0; i < r->params.n; i++)
		fprintf(f, "param %s=%s\n", r->params.names[i], r->params.values[i]);
	return rr__atomic_commit(f, tmp, path);
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

/* A key that may appear once: the line it was first seen on. */
static int once(int *first, int lineno, const char *key, char *err, size_t errlen)
{
	if (*first) {
		char what[128];
		snprintf(what, sizeof what, "duplicate '%s' (first on line %d)", key, *first);
		return set_err(err, errlen, lineno, "%s", what);
	}
	*first = lineno;
	return 0;
}

int rr__repro_parse(const char *text, size_t len, struct rr__repro *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	int lineno = 0, have_version = 0;
	unsigned seen = 0;
	enum { F_SCEN = 1, F_VAR = 2, F_STRAT = 4, F_SEED = 8, F_BUILD = 16, F_SIG = 32 };
	/* Every key but param and override may appear once; a second one (two schedule lines
	 * would be joined, a second seed would win) is an error. */
	static const char *const single[] = {"scenario", "variant",   "strategy", "seed",
					     "pct-depth", "pct-steps", "schedule", "build",
					     "signature", "found-by",  "surw-expect", "base",
					     NULL};
	int first_line[16] = {0};
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
		/* The writer ends every line with a newline: a last line without one
		 * is a file cut short (a signature cut in half would replay as "not
		 * reproduced"). */
		if (end == len)
			return set_err(err, errlen, lineno, "%s",
				       "truncated: the file ends inside this line (no newline)");
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
			if (strcmp(val, "1") && strcmp(val, "2") && strcmp(val, "3"))
				return set_err(err, errlen, lineno,
					       "unknown format version '%s' (this racerepro reads 1 to 3)",
					       val);
			have_version = val[0] - '0';
			continue;
		}
		for (int i = 0; single[i]; i++)
			if (!strcmp(key, single[i]) && once(&first_line[i], lineno, key, err, errlen))
				return -1;
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
			    !strcmp(val, "greybox") ||
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
		} else if (have_version >= 3 && !strcmp(key, "hold")) {
			struct rr__repro_hold *h = &r->holds[r->nholds];
			char role[64], until[64], word[8];
			unsigned k, uk;
			char extra;
			if (r->nholds >= RR_MAX_HOLDS ||
			    sscanf(val, "%63s %u %7s %63s %u %c", role, &k, word, until, &uk, &extra) !=
				    5 ||
			    strcmp(word, "until") || k > 0xffff || uk > 0xffff ||
			    copy_field(h->role, sizeof h->role, role) ||
			    copy_field(h->until_role, sizeof h->until_role, until))
				return set_err(err, errlen, lineno,
					       "bad hold '%s' (expected ROLE K until ROLE K)", val);
			h->k = k;
			h->until_k = uk;
			r->nholds++;
		} else if (!strcmp(key, "schedule")) {
			const char *p = val, *w;
			size_t wlen;
			while ((w = rr__next_word(&p, &wlen))) {
				if (wlen != 2 || !isxdigit((unsigned char)w[0]) ||
				    !isxdigit((unsigned char)w[1]))
					return set_err(err, errlen, lineno, "%s",
						       "bad schedule byte (expected two hex digits each)");
				if (r->nschedule >= RR_MAX_SCHEDULE)
					return set_err(err, errlen, lineno, "%s", "schedule too long");
				char hex[3] = {w[0], w[1], 0};
				r->schedule[r->nschedule++] = (uint8_t)strtoul(hex, NULL, 16);
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
			char name[RR_PARAM_NAME];
			if (!eq || eq == val || (size_t)(eq - val) >= sizeof name)
				return set_err(err, errlen, lineno, "bad param '%s' (expected NAME=VALUE)",
					       val);
			memcpy(name, val, (size_t)(eq - val));
			name[eq - val] = '\0';
			for (int i = 0; i < r->params.n; i++)
				if (!strcmp(r->params.names[i], name)) {
					char what[RR_PARAM_NAME + 64];
					snprintf(what, sizeof what,
						 "duplicate param '%s' (first on line %d)", name,
						 r->param_lines[i]);
					return set_err(err, errlen, lineno, "%s", what);
				}
			if (r->params.n < RR_MAX_PARAMS)
				r->param_lines[r->params.n] = lineno;
			if (rr__params_set(&r->params, name, eq + 1))
				return set_err(err, errlen, lineno, "bad param '%s' (expected NAME=VALUE)",
					       val);
		} else {
			return set_err(err, errlen, lineno, "unknown key '%s'", key);
		}
	}
	if (!have_version)
		return set_err(err, errlen, lineno, "%s", "the file is empty (expected 'racerepro-repro 1')");
	if ((r->base[0] || r->noverrides || r->nholds) && strcmp(r->strategy, "input"))
		return set_err(err, errlen, lineno, "%s",
			       "base, override and hold lines belong to strategy input only");
	if ((r->noverrides || r->nholds) && !r->base[0])
		return set_err(err, errlen, lineno, "%s", "override and hold lines need a base line");
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

int rr__open_regular(const char *path, char *err, size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO with no writer would wait forever. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "is %s, not a regular file",
			 S_ISDIR(st.st_mode)    ? "a directory"
			 : S_ISFIFO(st.st_mode) ? "a FIFO"
			 : S_ISSOCK(st.st_mode) ? "a socket"
			 : S_ISCHR(st.st_mode)  ? "a character device"
			 : S_ISBLK(st.st_mode)  ? "a block device"
						: "not a file");
		close(fd);
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

#define REPRO_MAX_BYTES ((size_t)1 << 16)

int rr__repro_read(const char *path, struct rr__repro *r, char *err, size_t errlen)
{
	int fd = rr__open_regular(path, err, errlen);
	if (fd < 0)
		return -1;
	/* One byte more than the largest accepted file: a file of exactly the
	 * limit reads whole, one byte over is refused. */
	size_t cap = REPRO_MAX_BYTES + 1, len = 0;
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
		if (n < 0) {
			snprintf(err, errlen, "cannot read: %s", strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			free(buf);
			close(fd);
			snprintf(err, errlen, "file larger than %zu bytes: not a reproducer",
				 REPRO_MAX_BYTES);
			return -1;
		}
	}
	close(fd);
	int rc = rr__repro_parse(buf, len, r, err, errlen);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

const char *rr__params_get(const struct rr__params *p, const char *name)
{
	for (int i = 0; i < p->n; i++)
		if (!strcmp(p->names[i], name))
			return p->values[i];
	return NULL;
}

int rr__params_set(struct rr__params *p, const char *name, const char *value)
{
	if (strlen(name) >= RR_PARAM_NAME || strlen(value) >= RR_PARAM_VALUE)
		return -1;
	int i;
	for (i = 0; i < p->n; i++)
		if (!strcmp(p->names[i], name))
			break;
	if (i == RR_MAX_PARAMS)
		return -1;
	if (i == p->n)
		p->n++;
	snprintf(p->names[i], sizeof p->names[i], "%s", name);
	snprintf(p->values[i], sizeof p->values[i], "%s", value);
	return 0;
}

const struct rr_param *rr__param_decl(const struct rr_scenario *sc, const char *name)
{
	for (const struct rr_param *p = sc->params; p && p->name; p++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Reproducer <-> run configuration                                          */
/* ------------------------------------------------------------------------ */

void rr__repro_from_run(const struct rr__run_config *cfg, const struct rr__sched *s,
			uint64_t seed, const char *sig, struct rr__repro *r)
{
	memset(r, 0, sizeof *r);
	snprintf(r->scenario, sizeof r->scenario, "%s", cfg->scenario->name);
	snprintf(r->variant, sizeof r->variant, "%s", cfg->variant->name);
	snprintf(r->strategy, sizeof r->strategy, "%s", rr__strategy_names[s->strategy]);
	r->seed = seed;
	r->pct_depth = s->pct_depth;
	r->pct_steps = s->pct_steps;
	if (s->strategy == RR_STRAT_SURW)
		rr__surw_format(s, r->surw_expect, sizeof r->surw_expect);
	if (s->strategy == RR_STRAT_INPUT && s->abstract) {
		rr__schedule_to_repro(s, cfg->scenario->roles, r);
	} else if (s->strategy == RR_STRAT_INPUT) {
		r->nschedule = s->ninput;
		memcpy(r->schedule, s->input, s->ninput);
	} else if (s->controlled) {
		r->nschedule = s->ndecisions;
		memcpy(r->schedule, s->decisions, s->ndecisions);
	}
	snprintf(r->build, sizeof r->build, "%s", RR_BUILD_NAME);
	snprintf(r->signature, sizeof r->signature, "%s", sig);
	if (cfg->strategy == RR_STRAT_PORTFOLIO || cfg->strategy == RR_STRAT_GREYBOX)
		snprintf(r->found_by, sizeof r->found_by, "%s", rr__strategy_names[cfg->strategy]);
	/* Every declared parameter, defaults too: a replay must not depend on
	 * the defaults of the binary that replays it. Both tables share the
	 * limits, so a value that fits the run fits the file. */
	for (const struct rr_param *p = cfg->scenario->params; p && p->name; p++) {
		const char *v = rr__params_get(&cfg->params, p->name);
		if (rr__params_set(&r->params, p->name, v ? v : p->def) < 0)
			break;
	}
}

int rr__repro_to_config(struct rr__repro *r, struct rr__run_config *c, char *err, size_t errlen)
{
	const struct rr_scenario *sc = rr__scenario_find(r->scenario);
	if (!sc) {
		snprintf(err, errlen, "unknown scenario '%s' (racerepro list shows them)",
			 r->scenario);
		return -1;
	}
	const struct rr_variant *v = rr__variant_find(sc, r->variant);
	if (!v) {
		snprintf(err, errlen, "scenario %s has no variant '%s'", sc->name, r->variant);
		return -1;
	}
	memset(c, 0, sizeof *c);
	c->scenario = sc;
	c->variant = v;
	c->strategy = rr__strategy_parse(r->strategy);
	c->seed = r->seed;
	c->seed_given = 1;
	c->exact_seed = 1;
	c->pct_depth = r->pct_depth;
	c->pct_steps = r->pct_steps;
	if (c->strategy == RR_STRAT_INPUT && r->base[0]) {
		/* Version 2: the abstract schedule, encoded in place of the
		 * bytes (the writer ignores them when there is a base). */
		static struct rr__abstract a;
		if (rr__schedule_from_repro(r, sc->roles, &a, err, errlen) < 0)
			return -1;
		r->nschedule = (uint32_t)rr__schedule_encode(&a, r->schedule, sizeof r->schedule);
		rr__input_legacy = 0;
	} else if (c->strategy == RR_STRAT_INPUT) {
		rr__input_legacy = 1; /* version 1: the bytes keep their meaning */
	}
	if (c->strategy == RR_STRAT_INPUT) {
		c->input = r->schedule;
		c->ninput = r->nschedule;
	}
	/* surw's expectations are part of its timing seed: the replay uses the
	 * recorded ones, not whatever this process would learn. */
	if (rr__surw_preset(r->surw_expect) < 0) {
		snprintf(err, errlen, "bad surw-expect '%s'", r->surw_expect);
		return -1;
	}
	c->jobs = 1;
	c->quiet = 1;
	for (int i = 0; i < r->params.n; i++) {
		const struct rr_param *decl = rr__param_decl(sc, r->params.names[i]);
		if (!decl) {
			snprintf(err, errlen, "line %d: scenario %s has no parameter '%s'",
				 r->param_lines[i], sc->name, r->params.names[i]);
			return -1;
		}
		char why[256];
		if (rr__param_value_check(decl, r->params.values[i], why, sizeof why)) {
			snprintf(err, errlen, "line %d: %s", r->param_lines[i], why);
			return -1;
		}
		rr__params_set(&c->params, r->params.names[i], r->params.values[i]);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The text form in reproducers                                              */
/* ------------------------------------------------------------------------ */

static int role_index(const char *const *roles, const char *name)
{
	for (int i = 0; roles && roles[i]; i++)
		if (!strcmp(roles[i], name))
			return i;
	return -1;
}

int rr__schedule_from_repro(const struct rr__repro *r, const char *const *roles,
			    struct rr__abstract *a, char *err, size_t cap)
{
	memset(a, 0, sizeof *a);
	a->base = rr__strategy_parse(r->base);
	a->seed = r->seed;
	a->pct_depth = (uint8_t)(r->pct_depth >= 2 && r->pct_depth <= 5 ? r->pct_depth : 3);
	a->pct_steps = (uint16_t)(r->pct_steps <= 0xffff ? r->pct_steps : 0);
	/* surw-expect: "ROLE=N ..." (checked by the parser) */
	for (const char *p = r->surw_expect; *p && a->nexpect < RR_SCHED_EXPECTS;) {
		const char *eq = strchr(p, '=');
		char name[24];
		if (!eq || (size_t)(eq - p) >= sizeof name)
			break;
		size_t len = (size_t)(eq - p);
		memcpy(name, p, len);
		name[len] = '\0';
		int ri = role_index(roles, name);
		unsigned long v = strtoul(eq + 1, NULL, 10);
		if (ri < 0) {
			snprintf(err, cap, "surw-expect names role '%s', which the scenario lacks", name);
			return -1;
		}
		a->expect_role[a->nexpect] = (uint8_t)ri;
		a->expect[a->nexpect++] = (uint8_t)(v > 255 ? 255 : v);
		p = strchr(eq, ' ');
		if (!p)
			break;
		p++;
	}
	for (int i = 0; i < r->noverrides && i < RR_MAX_OVERRIDES; i++) {
		const struct rr__repro_override *ro = &r->overrides[i];
		int ri = role_index(roles, ro->role), ti = role_index(roles, ro->target);
		if (ri < 0 || ti < 0) {
			snprintf(err, cap, "override names role '%s', which the scenario lacks",
				 ri < 0 ? ro->role : ro->target);
			return -1;
		}
		a->over[a->nover].role = (uint8_t)ri;
		a->over[a->nover].k = (uint16_t)ro->k;
		a->over[a->nover++].target = (uint8_t)ti;
	}
	for (int i = 0; i < r->nholds && i < RR_MAX_HOLDS; i++) {
		const struct rr__repro_hold *rh = &r->holds[i];
		int ri = role_index(roles, rh->role), ui = role_index(roles, rh->until_role);
		if (ri < 0 || ui < 0) {
			snprintf(err, cap, "hold names role '%s', which the scenario lacks",
				 ri < 0 ? rh->role : rh->until_role);
			return -1;
		}
		a->hold[a->nhold++] = (struct rr__hold){.role = (uint8_t)ri,
							.k = (uint16_t)rh->k,
							.until_role = (uint8_t)ui,
							.until_k = (uint16_t)rh->until_k};
	}
	return 0;
}

void rr__schedule_to_repro(const struct rr__sched *s, const char *const *roles,
			   struct rr__repro *r)
{
	const struct rr__abstract *a = &s->abs;
	int nroles = 0;
	while (roles && roles[nroles])
		nroles++;
	snprintf(r->base, sizeof r->base, "%s", rr__strategy_names[a->base]);
	r->seed = a->seed;
	r->pct_depth = a->base == RR_STRAT_PCT ? a->pct_depth : 0;
	r->pct_steps = a->base == RR_STRAT_PCT ? a->pct_steps : 0;
	r->surw_expect[0] = '\0';
	if (a->base == RR_STRAT_SURW)
		rr__surw_format(s, r->surw_expect, sizeof r->surw_expect);
	r->nschedule = 0;
	r->noverrides = 0;
	for (int i = 0; nroles && i < a->nover; i++) {
		struct rr__repro_override *o = &r->overrides[r->noverrides++];
		snprintf(o->role, sizeof o->role, "%s", roles[a->over[i].role % nroles]);
		o->k = a->over[i].k;
		snprintf(o->target, sizeof o->target, "%s", roles[a->over[i].target % nroles]);
	}
	r->nholds = 0;
	for (int i = 0; nroles && i < a->nhold; i++) {
		struct rr__repro_hold *h = &r->holds[r->nholds++];
		snprintf(h->role, sizeof h->role, "%s", roles[a->hold[i].role % nroles]);
		h->k = a->hold[i].k;
		snprintf(h->until_role, sizeof h->until_role, "%s",
			 roles[a->hold[i].until_role % nroles]);
		h->until_k = a->hold[i].until_k;
	}
}
