/*
 * cli.c: the racerepro subcommands. Every bad input gets one line naming the
 * problem and the fix, and exit status 2; an environment failure exits 3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "minimize.h"
#include "report.h"
#include "repro.h"
#include "schedule.h"
#include "supervisor.h"


static const char *cmd_name = "racerepro";
static const char *self_path = "racerepro"; /* argv[0], for the commands we print */

RR_NORETURN static void usage_error(const char *fmt, ...) RR_PRINTF(1, 2);
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", cmd_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(RR_EXIT_USAGE);
}

static const char *const usage_text =
	"usage: racerepro COMMAND [ARGS]\n"
	"\n"
	"  list                         the scenarios, their variants, roles and parameters\n"
	"  run SCENARIO [OPTIONS]       run one variant of a scenario\n"
	"  soak [SCENARIO...] [OPTIONS] run buggy and fixed variants and check the verdict\n"
	"  replay FILE [--check N]      rerun a saved reproducer\n"
	"  explain FILE                 print a reproducer's interleaving step by step\n"
	"  minimize FILE [-o OUT]       shorten a controlled reproducer's schedule\n"
	"  report DIR                   rebuild summary.* and junit.xml from events.jsonl\n"
	"  bench [--quick]              measure time to reproduce, rate and overhead\n"
	"  ftok-audit [--proj ID] PATH...  find System V keys that collide\n"
	"  exec [OPTIONS] -- PROG ARGS  run your own pthread program under the scheduler\n"
	"  cc|c++ [COMPILER ARGS]       compile with a scheduling point at every load/store\n"
	"\n"
	"Run 'racerepro COMMAND --help' for a command's options.\n"
	"Exit status: 0 the verdict holds (no finding), 1 a finding or a failed verdict,\n"
	"2 a usage error, 3 an environment error.\n";

static const char *const run_help =
	"usage: racerepro run SCENARIO [OPTIONS]\n"
	"       racerepro soak [SCENARIO...] [OPTIONS]\n"
	"\n"
	"  --variant V       run: buggy (default), fixed, or another variant;\n"
	"                    soak: both (default), buggy, fixed, or a variant name\n"
	"  --strategy S      none | noise | random | pct | surw | pos | input | portfolio\n"
	"                    | greybox\n"
	"                    (run: noise, soak: portfolio by default)\n"
	"  --seed S          64-bit run seed (default: from the clock; always printed)\n"
	"  --iterations N    stop after N iterations (with --duration: whichever ends first)\n"
	"  --duration D      stop after D (90, 500ms, 30s, 5m, 2h); soak splits D over its cells\n"
	"                    (defaults: run 10s, soak 60s)\n"
	"  --jobs N          worker processes in parallel (default 1)\n"
	"  --param NAME=VAL  set a scenario parameter (racerepro list shows them)\n"
	"  --backend B       the same as --param backend=B\n"
	"  --depth D         pct: the bug depth d (default 3)\n"
	"  --steps K         pct: expected decisions per iteration (default: learned)\n"
	"  --input HEX       input: version-1 decision bytes, e.g. 00ff01\n"
	"  --schedule HEX    input: an abstract schedule in its binary form (a fuzzer's\n"
	"                    input: base sampler, seed, overrides; fuzz/README.md)\n"
	"  --timeout D       per-iteration watchdog (default 10s, x2 ASan, x4 TSan)\n"
	"  --out DIR         report folder (default reports/<run-id>, linked as reports/latest)\n"
	"  --stop-on-failure end each cell at its first finding\n"
	"  --keep-cores      keep crash core files in failures/ (backtraces are always taken)\n"
	"  --no-fork         run iterations in this process (for gdb); a finding aborts\n"
	"  --quiet           no progress line\n";

/* ------------------------------------------------------------------------ */
/* list                                                                      */
/* ------------------------------------------------------------------------ */

static int cmd_list(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: racerepro list\n\nLists every scenario with its upstream reference, "
		       "variants, thread roles and parameters.\n");
		return 0;
	}
	if (argc > 1)
		usage_error("list: unexpected argument '%s' (list takes none)", argv[1]);
	for (int i = 0; rr__registry[i]; i++) {
		const struct rr_scenario *sc = rr__registry[i];
		printf("%s\n  %s\n  upstream: %s\n  symptom:  %s\n  variants:", sc->name,
		       sc->summary, sc->upstream, sc->symptom);
		for (const struct rr_variant *v = sc->variants; v && v->name; v++)
			printf(" %s%s", v->name, v->expect_failure ? " (expected to fail)" : "");
		printf("\n  roles:   ");
		for (int k = 0; sc->roles[k]; k++)
			printf(" %s", sc->roles[k]);
		printf("\n");
		for (const struct rr_param *p = sc->params; p && p->name; p++)
			printf("  param %s=%s: %s\n", p->name, p->def, p->help);
		printf("\n");
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Options shared by run and soak                                            */
/* ------------------------------------------------------------------------ */

struct options {
	const char *scenarios[RR_MAX_CELLS];
	int nscenarios;
	const char *variant;
	const char *strategy;
	const char *out;
	uint64_t seed;
	int seed_given;
	uint64_t iterations;
	uint64_t duration_ns;
	uint64_t timeout_ns;
	int jobs;
	uint32_t depth, steps;
	uint8_t input[RR_MAX_SCHEDULE];
	uint32_t ninput;
	int no_fork, quiet, stop_on_failure, keep_cores;
	struct rr__params params;
};

/* getopt_long over ARGV (ARGV[0] is the command's name) in order: returns an
 * option's value, 1 for a positional argument (in *ARG), or -1 at the end.
 * An unknown option or a missing value is a usage error naming it. Call with
 * optind reset to 0 before the first call of each command. */
static int next_option(int argc, char **argv, const char *shorts, const struct option *longs,
		       const char **arg)
{
	opterr = 0;
	int c = getopt_long(argc, argv, shorts, longs, NULL);
	if (c == -1 && optind < argc) /* after "--": positional arguments only */
		c = 1, optarg = argv[optind++];
	if (c == '?')
		usage_error("unknown option '%s' (see %s --help)", argv[optind - 1], cmd_name);
	if (c == ':')
		usage_error("option %s needs a value (see --help)", argv[optind - 1]);
	*arg = optarg;
	return c;
}

/* Leading "-": positional arguments come back in order as 1 (no reordering
 * of argv, which the reports record as typed); ":": a missing value is told
 * apart from an unknown option. */
#define SHORTS(s) "-:" s

static int parse_hex(const char *s, uint8_t *out, uint32_t cap, uint32_t *n)
{
	*n = 0;
	while (*s) {
		if (*s == ' ' || *s == ':') {
			s++;
			continue;
		}
		unsigned v;
		if (!s[1] || sscanf(s, "%2x", &v) != 1 || *n >= cap)
			return -1;
		out[(*n)++] = (uint8_t)v;
		s += 2;
	}
	return 0;
}

static void add_param(struct options *o, const char *name, const char *value)
{
	if (rr__params_set(&o->params, name, value) == 0)
		return;
	if (strlen(value) >= RR_PARAM_VALUE)
		usage_error("--param %s: the value is longer than %d characters", name,
			    RR_PARAM_VALUE - 1);
	usage_error("too many --param options (at most %d)", RR_MAX_PARAMS);
}

enum {
	OPT_VARIANT = 256,
	OPT_STRATEGY,
	OPT_SEED,
	OPT_ITERATIONS,
	OPT_DURATION,
	OPT_TIMEOUT,
	OPT_PARAM,
	OPT_BACKEND,
	OPT_DEPTH,
	OPT_STEPS,
	OPT_INPUT,
	OPT_SCHEDULE,
	OPT_OUT,
	OPT_NO_FORK,
	OPT_KEEP_CORES,
	OPT_STOP_ON_FAILURE,
	OPT_CHECK,
	OPT_ATTEMPTS,
	OPT_SCENARIO,
};

static const struct option run_options[] = {
	{"help", no_argument, NULL, 'h'},
	{"variant", required_argument, NULL, OPT_VARIANT},
	{"strategy", required_argument, NULL, OPT_STRATEGY},
	{"seed", required_argument, NULL, OPT_SEED},
	{"iterations", required_argument, NULL, OPT_ITERATIONS},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"jobs", required_argument, NULL, 'j'},
	{"param", required_argument, NULL, OPT_PARAM},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"depth", required_argument, NULL, OPT_DEPTH},
	{"steps", required_argument, NULL, OPT_STEPS},
	{"input", required_argument, NULL, OPT_INPUT},
	{"schedule", required_argument, NULL, OPT_SCHEDULE},
	{"out", required_argument, NULL, OPT_OUT},
	{"no-fork", no_argument, NULL, OPT_NO_FORK},
	{"keep-cores", no_argument, NULL, OPT_KEEP_CORES},
	{"stop-on-failure", no_argument, NULL, OPT_STOP_ON_FAILURE},
	{"quiet", no_argument, NULL, 'q'},
	{NULL, 0, NULL, 0},
};

/* A whole number in [1, MAX] for option NAME, or a usage error. */
static uint64_t positive(const char *name, const char *v, uint64_t max)
{
	uint64_t n;
	if (rr__parse_u64(v, &n) || n == 0 || n > max) {
		if (max == UINT64_MAX)
			usage_error("%s '%s' must be a positive whole number", name, v);
		usage_error("%s '%s' must be a positive whole number up to %" PRIu64, name, v, max);
	}
	return n;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof *o);
	o->jobs = 1;
	optind = 0;
	/* `--strategy input` alone, or with --input, keeps the version-1 bytes
	 * (the empty input: the current thread keeps running); --schedule
	 * makes it an abstract schedule. */
	rr__input_legacy = 1;
	const char *v;
	for (int c; (c = next_option(argc, argv, SHORTS("hj:q"), run_options, &v)) != -1;) {
		switch (c) {
		case 'h':
			fputs(run_help, stdout);
			exit(0);
		case OPT_VARIANT:
			o->variant = v;
			break;
		case OPT_STRATEGY:
			o->strategy = v;
			if (rr__strategy_parse(o->strategy) < 0)
				usage_error("unknown strategy '%s' (use none, noise, random, pct, surw, "
					    "pos, input, portfolio or greybox)",
					    o->strategy);
			/* greybox's ablation knob (schedule.h): read here, before
			 * the workers fork, so that a bad value is a usage error
			 * and not a worker's. */
			if (rr__strategy_parse(o->strategy) == RR_STRAT_GREYBOX &&
			    rr__schedule_base_env("RR_GREYBOX_BASE") < 0)
				usage_error("RR_GREYBOX_BASE=%s: use random, pct, surw or pos (or "
					    "unset it)",
					    getenv("RR_GREYBOX_BASE"));
			break;
		case OPT_SEED:
			if (rr__parse_u64(v, &o->seed))
				usage_error("malformed seed '%s' (use a number such as 42 or 0x2a)", v);
			o->seed_given = 1;
			break;
		case OPT_ITERATIONS:
			o->iterations = positive("--iterations", v, UINT64_MAX);
			break;
		case OPT_DURATION:
			if (rr__parse_duration(v, &o->duration_ns))
				usage_error("malformed duration '%s' (use e.g. 90, 500ms, 30s, 5m or 2h)",
					    v);
			break;
		case OPT_TIMEOUT:
			if (rr__parse_duration(v, &o->timeout_ns))
				usage_error("malformed timeout '%s' (use e.g. 500ms, 10s or 1m)", v);
			break;
		case 'j': {
			uint64_t j;
			if (rr__parse_u64(v, &j) || j == 0 || j > 256)
				usage_error("--jobs '%s' must be a whole number from 1 to 256", v);
			o->jobs = (int)j;
			break;
		}
		case OPT_PARAM: {
			const char *eq = strchr(v, '=');
			char name[RR_PARAM_NAME];
			if (!eq || eq == v || (size_t)(eq - v) >= sizeof name)
				usage_error("--param '%s' must look like NAME=VALUE", v);
			memcpy(name, v, (size_t)(eq - v));
			name[eq - v] = '\0';
			add_param(o, name, eq + 1);
			break;
		}
		case OPT_BACKEND:
			add_param(o, "backend", v);
			break;
		case OPT_DEPTH:
			o->depth = (uint32_t)positive("--depth", v, 16);
			break;
		case OPT_STEPS:
			o->steps = (uint32_t)positive("--steps", v, 100000);
			break;
		case OPT_INPUT:
			if (parse_hex(v, o->input, RR_MAX_SCHEDULE, &o->ninput))
				usage_error("malformed --input '%s' (use hex bytes such as 00ff01)", v);
			rr__input_legacy = 1;
			break;
		case OPT_SCHEDULE:
			if (parse_hex(v, o->input, RR_MAX_SCHEDULE, &o->ninput))
				usage_error("malformed --schedule '%s' (use hex bytes such as 00ff01)",
					    v);
			rr__input_legacy = 0;
			break;
		case OPT_OUT:
			o->out = v;
			break;
		case OPT_NO_FORK:
			o->no_fork = 1;
			break;
		case OPT_KEEP_CORES:
			o->keep_cores = 1;
			break;
		case OPT_STOP_ON_FAILURE:
			o->stop_on_failure = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		default: /* 1: a scenario */
			if (o->nscenarios >= RR_MAX_CELLS / 2)
				usage_error("too many scenarios");
			o->scenarios[o->nscenarios++] = v;
		}
	}
	for (int i = 0; i < o->nscenarios; i++)
		if (!rr__scenario_find(o->scenarios[i]))
			usage_error("unknown scenario '%s' (racerepro list shows the %s)",
				    o->scenarios[i], "available ones");
	if (!o->seed_given) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t st = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
		o->seed = rr__splitmix64(&st);
	}
}

static void check_params(const struct rr_scenario *sc, const struct options *o)
{
	for (int i = 0; i < o->params.n; i++) {
		const struct rr_param *decl = rr__param_decl(sc, o->params.names[i]);
		if (!decl) {
			char names[512] = "";
			size_t len = 0;
			for (const struct rr_param *p = sc->params; p && p->name && len < sizeof names - 40;
			     p++)
				len += (size_t)snprintf(names + len, sizeof names - len, "%s%s",
							len ? ", " : "", p->name);
			usage_error("scenario %s has no parameter '%s' (it has: %s)", sc->name,
				    o->params.names[i], len ? names : "none");
		}
		char why[256];
		if (rr__param_value_check(decl, o->params.values[i], why, sizeof why))
			usage_error("%s", why);
	}
}

static void make_config(struct rr__run_config *cfg, const struct options *o,
			const struct rr_scenario *sc, const struct rr_variant *v, int strategy)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->scenario = sc;
	cfg->variant = v;
	cfg->strategy = strategy;
	cfg->seed = o->seed;
	cfg->seed_given = 1;
	cfg->pct_depth = o->depth;
	cfg->pct_steps = o->steps;
	cfg->input = (uint8_t *)o->input;
	cfg->ninput = o->ninput;
	cfg->iterations = o->iterations;
	cfg->duration_ns = o->duration_ns;
	cfg->jobs = o->jobs;
	cfg->timeout_ns = o->timeout_ns;
	cfg->no_fork = o->no_fork;
	cfg->quiet = o->quiet;
	cfg->stop_at_first_failure = o->stop_on_failure;
	cfg->keep_cores = o->keep_cores;
	cfg->forensics = 1; /* run and soak keep failures/; replay and minimize do not */
	for (int i = 0; i < o->params.n; i++)
		if (rr__param_decl(sc, o->params.names[i]))
			rr__params_set(&cfg->params, o->params.names[i], o->params.values[i]);
}

static int finish_run(struct rr__run *run, int want_findings_fail)
{
	int holds = rr__report_finish(run);
	rr__report_html(run);
	rr__report_print_summary(run, stdout);
	if (run->write_failed)
		return RR_EXIT_ENV;
	if (run->interrupted) {
		fprintf(stderr, "%s: interrupted; the reports so far are in %s\n", cmd_name, run->dir);
		return 128 + rr__driver_interrupted();
	}
	if (want_findings_fail) {
		for (int i = 0; i < run->ncells; i++) {
			const struct rr__cell *c = &run->cells[i];
			if (c->nsigs && c->counts[RR_ERROR] < c->iterations)
				return RR_EXIT_FINDING;
			if (c->counts[RR_ERROR] && c->counts[RR_ERROR] == c->iterations)
				return RR_EXIT_ENV;
		}
		return RR_EXIT_OK;
	}
	for (int i = 0; i < run->ncells; i++)
		if (run->cells[i].verdict == RR_V_ERROR)
			return RR_EXIT_ENV;
	return holds ? RR_EXIT_OK : RR_EXIT_FINDING;
}

static void print_env_once(const struct rr__run_config *cfg)
{
	fprintf(stderr, "%s: %s/%s, strategy %s, seed 0x%016" PRIx64 ", build %s\n", cmd_name,
		cfg->scenario->name, cfg->variant->name, rr__strategy_names[cfg->strategy], cfg->seed,
		RR_BUILD_NAME);
	if (!rr__strategy_controlled(cfg->strategy) && cfg->strategy != RR_STRAT_PORTFOLIO &&
	    cfg->strategy != RR_STRAT_GREYBOX)
		fprintf(stderr,
			"%s: note: %s is free-running: its seeds replay statistically, not exactly\n",
			cmd_name, rr__strategy_names[cfg->strategy]);
}

static int cmd_run(int argc, char **argv)
{
	struct options o;
	parse_options(argc, argv, &o);
	if (o.nscenarios != 1)
		usage_error("run takes exactly one scenario (racerepro list shows them)");
	const struct rr_scenario *sc = rr__scenario_find(o.scenarios[0]);
	const char *vname = o.variant ? o.variant : "buggy";
	const struct rr_variant *v = rr__variant_find(sc, vname);
	if (!v)
		usage_error("scenario %s has no variant '%s' (racerepro list shows its variants)",
			    sc->name, vname);
	check_params(sc, &o);
	/* Exec mode's program is a child process of the worker in any case;
	 * --no-fork would only move the worker into the driver, which gdb gains
	 * nothing from: a usage error with the way to debug the program. */
	if (o.no_fork && !strncmp(sc->name, "exec:", 5))
		usage_error("--no-fork does not apply to exec targets (the program always runs "
			    "as a child process): leave it out, and debug the program with "
			    "gdb --args PROGRAM or by attaching gdb -p to it");
	int strategy = rr__strategy_parse(o.strategy ? o.strategy : "noise");
	if (!o.iterations && !o.duration_ns)
		o.duration_ns = 10000000000ull;
	struct rr__run_config cfg;
	make_config(&cfg, &o, sc, v, strategy);
	rr__ctx.cfg = &cfg;
	rr__driver_signals();
	if (o.no_fork) {
		struct rr__cell cell;
		int rc = rr__run_in_process(&cfg, &cell);
		printf("%s/%s: %" PRIu64 " iterations in-process, no finding%s\n", sc->name, v->name,
		       cell.iterations, cell.skipped ? " (skipped)" : "");
		return rc;
	}
	static struct rr__run run;
	if (rr__report_open(&run, o.out, argc + 1, argv - 1) < 0)
		return RR_EXIT_ENV;
	print_env_once(&cfg);
	rr__progress_planned_s = o.duration_ns ? (double)o.duration_ns / 1e9 : 0;
	run.ncells = 1;
	int rc = rr__run_cell(&cfg, &run, &run.cells[0]);
	run.interrupted = rr__driver_interrupted() != 0;
	int frc = finish_run(&run, 1);
	return rc == RR_EXIT_ENV ? RR_EXIT_ENV : frc;
}

static int cmd_soak(int argc, char **argv)
{
	struct options o;
	parse_options(argc, argv, &o);
	const char *vsel = o.variant ? o.variant : "both";
	int strategy = rr__strategy_parse(o.strategy ? o.strategy : "portfolio");
	if (!o.iterations && !o.duration_ns)
		o.duration_ns = 60000000000ull;
	if (o.no_fork)
		usage_error("soak runs in worker processes; use run --no-fork for gdb");
	const struct rr_scenario *list[RR_MAX_CELLS];
	int n = 0;
	if (o.nscenarios)
		for (int i = 0; i < o.nscenarios; i++)
			list[n++] = rr__scenario_find(o.scenarios[i]);
	else
		for (int i = 0; rr__registry[i] && n < RR_MAX_CELLS / 2; i++)
			list[n++] = rr__registry[i];
	/* The cells: buggy variants first, so that each fixed variant's fix
	 * confidence can use its buggy twin's hit rate. */
	struct cellspec {
		const struct rr_scenario *sc;
		const struct rr_variant *v;
	} cells[RR_MAX_CELLS];
	int ncells = 0;
	for (int i = 0; i < n; i++) {
		check_params(list[i], &o);
		int matched = 0;
		for (int pass = 0; pass < 2; pass++) {
			for (const struct rr_variant *v = list[i]->variants; v && v->name; v++) {
				if ((pass == 0) != (v->expect_failure != 0))
					continue;
				int want = !strcmp(vsel, "both") || !strcmp(vsel, "all") ||
					   !strcmp(vsel, v->name);
				/* The user's own program has one build: by default it is
				 * expected to pass (its "fixed" cell); --variant buggy
				 * says it is expected to fail. */
				if (!strcmp(vsel, "both") && v->expect_failure &&
				    !strncmp(list[i]->name, "exec:", 5))
					want = 0;
				if (want && ncells < RR_MAX_CELLS) {
					cells[ncells].sc = list[i];
					cells[ncells++].v = v;
					matched = 1;
				}
			}
		}
		if (!matched)
			usage_error("scenario %s has no variant '%s' (use both, buggy, fixed or a "
				    "variant racerepro list shows)",
				    list[i]->name, vsel);
	}
	if (ncells == 0)
		usage_error("no scenario to soak (racerepro list shows them)");
	static struct rr__run run;
	if (rr__report_open(&run, o.out, argc + 1, argv - 1) < 0)
		return RR_EXIT_ENV;
	fprintf(stderr, "%s: soak of %d cells, strategy %s, seed 0x%016" PRIx64 ", build %s\n",
		cmd_name, ncells, rr__strategy_names[strategy], o.seed, RR_BUILD_NAME);
	rr__driver_signals();
	uint64_t share = o.duration_ns ? o.duration_ns / (uint64_t)ncells : 0;
	int env_failed = 0;
	for (int i = 0; i < ncells && !rr__driver_interrupted(); i++) {
		struct options oc = o;
		oc.duration_ns = share;
		struct rr__run_config cfg;
		make_config(&cfg, &oc, cells[i].sc, cells[i].v, strategy);
		rr__ctx.cfg = &cfg;
		rr__progress_planned_s = share ? (double)share / 1e9 : 0;
		run.ncells = i + 1;
		if (rr__run_cell(&cfg, &run, &run.cells[i]) == RR_EXIT_ENV)
			env_failed = 1;
		if (run.write_failed)
			break;
	}
	run.interrupted = rr__driver_interrupted() != 0;
	/* An interrupted soak (or one whose disk filled) must not read as a
	 * pass: the cells it never got to are listed (and logged, for `report
	 * DIR`) as not run. */
	for (int i = run.ncells; (run.interrupted || run.write_failed) && i < ncells; i++) {
		struct rr__cell *c = &run.cells[i];
		memset(c, 0, sizeof *c);
		c->scenario = cells[i].sc;
		c->variant = cells[i].v;
		c->strategy = strategy;
		c->seed = o.seed;
		c->skipped = 1;
		if (run.interrupted)
			snprintf(c->skip_reason, sizeof c->skip_reason,
				 "not run: the soak was interrupted by SIG%s before this cell",
				 sigabbrev_np(rr__driver_interrupted()));
		else
			snprintf(c->skip_reason, sizeof c->skip_reason,
				 "not run: the reports could not be written");
		run.ncells = i + 1;
		rr__report_progress(&run, c, 1);
	}
	int rc = finish_run(&run, 0);
	return env_failed && rc == RR_EXIT_OK ? RR_EXIT_ENV : rc;
}

/* ------------------------------------------------------------------------ */
/* replay, explain, minimize                                                 */
/* ------------------------------------------------------------------------ */

static const char *const replay_help =
	"usage: racerepro replay FILE [--check N] [--attempts N]\n"
	"       racerepro replay --scenario NAME [--variant V] CRASHFILE\n\n"
	"Reruns a reproducer in this binary's build. Exits 1 when the recorded\n"
	"failure shows again, 0 when it does not. --check N replays N times and\n"
	"exits 0 only when every run took the same steps to the same end.\n"
	"Free-running reproducers (none, noise) replay statistically: the same\n"
	"seed for up to --attempts iterations (default 1000).\n";

static const char *const explain_help =
	"usage: racerepro explain FILE [--scenario NAME]\n\n"
	"Replays a controlled reproducer once and prints its interleaving: each\n"
	"step's thread role, race point and what happened there; the steps that\n"
	"matter for the failure are marked with '*'.\n";

static const char *const minimize_help =
	"usage: racerepro minimize FILE [-o OUT] [--duration D]\n\n"
	"Turns a controlled reproducer into an input schedule and shortens it,\n"
	"delta-debugging style, while the failure's signature holds. Writes OUT\n"
	"(default FILE with .min.repro) and prints the preemptions before and after.\n"
	"--duration D (default 10m) bounds the search; at the bound the shortest\n"
	"schedule found so far is written. SIGINT or SIGTERM stop it with exit\n"
	"128+N and write nothing.\n";

/* The arguments of replay, explain and minimize (each accepts the options
 * in its LONGS). ONE_FILE: a second file is an error, not the last wins. */
struct repro_args {
	const char *path, *scenario, *variant, *out;
	uint64_t check, attempts;
	uint64_t duration_ns; /* minimize: the bound of the search */
};

static void parse_repro_args(int argc, char **argv, const char *shorts,
			     const struct option *longs, const char *help, int one_file,
			     struct repro_args *a)
{
	memset(a, 0, sizeof *a);
	a->attempts = 1000;
	a->duration_ns = 600000000000ull;
	optind = 0;
	const char *v;
	for (int c; (c = next_option(argc, argv, shorts, longs, &v)) != -1;) {
		switch (c) {
		case 'h':
			fputs(help, stdout);
			exit(0);
		case OPT_CHECK:
			a->check = positive("--check", v, 100000);
			break;
		case OPT_ATTEMPTS:
			a->attempts = positive("--attempts", v, UINT64_MAX);
			break;
		case OPT_SCENARIO:
			a->scenario = v;
			break;
		case OPT_VARIANT:
			a->variant = v;
			break;
		case 'o':
			a->out = v;
			break;
		case OPT_DURATION:
			if (rr__parse_duration(v, &a->duration_ns) || !a->duration_ns)
				usage_error("--duration '%s' must be a positive duration such as 90, "
					    "500ms, 30s, 5m or 2h",
					    v);
			break;
		default:
			if (one_file && a->path)
				usage_error("%s takes one file", cmd_name + strlen("racerepro "));
			a->path = v;
		}
	}
	if (!a->path)
		usage_error("%s needs a reproducer file (see %s --help)",
			    cmd_name + strlen("racerepro "), cmd_name);
}

struct loaded {
	struct rr__repro r;
	struct rr__run_config cfg;
	int raw; /* a raw fuzzer input, not a reproducer file */
};

static void load_repro(const char *path, const char *scenario, const char *variant,
		       struct loaded *l)
{
	char err[512];
	/* Raw crash files are abstract schedules, as the fuzz targets read
	 * their input; RR_FUZZ_INPUT=bytes for a target run in byte mode. */
	const char *mode = getenv("RR_FUZZ_INPUT");
	int raw_legacy = mode && !strcmp(mode, "bytes");
	memset(l, 0, sizeof *l);
	if (scenario) {
		/* A raw crash file from a fuzzer: its bytes are the decisions. */
		if (!rr__scenario_find(scenario))
			usage_error("unknown scenario '%s' (racerepro list shows them)", scenario);
		int fd = rr__open_regular(path, err, sizeof err);
		if (fd < 0)
			usage_error("%s: %s", path, err);
		size_t n = 0;
		while (n < RR_MAX_SCHEDULE) {
			ssize_t got = read(fd, l->r.schedule + n, RR_MAX_SCHEDULE - n);
			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0)
				usage_error("%s: cannot read: %s", path, strerror(errno));
			if (got == 0)
				break;
			n += (size_t)got;
		}
		close(fd);
		struct rr__repro tmp;
		if (rr__repro_parse((const char *)l->r.schedule, n, &tmp, err, sizeof err) == 0) {
			l->r = tmp;
		} else {
			l->raw = 1;
			l->r.nschedule = (uint32_t)n;
			snprintf(l->r.scenario, sizeof l->r.scenario, "%s", scenario);
			snprintf(l->r.variant, sizeof l->r.variant, "%s", variant ? variant : "buggy");
			snprintf(l->r.strategy, sizeof l->r.strategy, "input");
			snprintf(l->r.build, sizeof l->r.build, "%s", RR_BUILD_NAME);
			snprintf(l->r.signature, sizeof l->r.signature, "?");
		}
	} else if (rr__repro_read(path, &l->r, err, sizeof err) < 0) {
		usage_error("%s: %s (pass --scenario NAME for a raw fuzzer input)", path, err);
	}
	if (rr__repro_to_config(&l->r, &l->cfg, err, sizeof err) < 0)
		usage_error("%s: %s", path, err);
	if (rr__exec_check_repro(&l->cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s: %s: %s\n", cmd_name, path, err);
		exit(RR_EXIT_ENV);
	}
	/* A raw crash file of a target that ran in byte mode keeps the
	 * version-1 meaning of its bytes; the targets' default is an abstract
	 * schedule. */
	if (l->raw)
		rr__input_legacy = raw_legacy;
	rr__ctx.cfg = &l->cfg;
}

static void print_divergence(const struct rr__sched *a, const struct rr__sched *b, int run)
{
	long step = rr__trace_diverge(a, b);
	if (step < 0) {
		printf("  run 1 and run %d took the same steps but ended differently\n", run);
		return;
	}
	const struct rr__event *ea = NULL, *eb = NULL;
	long k = 0;
	for (uint32_t i = 0; i < a->nevents && i < RR_MAX_EVENTS; i++)
		if (a->events[i].kind != RR_EV_NOTE && k++ == step) {
			ea = &a->events[i];
			break;
		}
	k = 0;
	for (uint32_t i = 0; i < b->nevents && i < RR_MAX_EVENTS; i++)
		if (b->events[i].kind != RR_EV_NOTE && k++ == step) {
			eb = &b->events[i];
			break;
		}
	printf("  run 1 and run %d diverge at step %ld: run 1 had %s at %s, run %d had %s at %s\n",
	       run, step + 1, ea ? a->slots[ea->thread].role : "(end)", ea ? ea->point : "-", run,
	       eb ? b->slots[eb->thread].role : "(end)", eb ? eb->point : "-");
}

static int cmd_replay(int argc, char **argv)
{
	static const struct option longs[] = {
		{"help", no_argument, NULL, 'h'},
		{"check", required_argument, NULL, OPT_CHECK},
		{"attempts", required_argument, NULL, OPT_ATTEMPTS},
		{"scenario", required_argument, NULL, OPT_SCENARIO},
		{"variant", required_argument, NULL, OPT_VARIANT},
		{NULL, 0, NULL, 0},
	};
	struct repro_args a;
	parse_repro_args(argc, argv, SHORTS("h"), longs, replay_help, 1, &a);
	const char *path = a.path;
	uint64_t check = a.check, attempts = a.attempts;
	static struct loaded loaded;
	struct loaded *l = &loaded;
	load_repro(path, a.scenario, a.variant, l);
	rr__driver_signals();
	if (strcmp(l->r.build, RR_BUILD_NAME))
		fprintf(stderr,
			"%s: note: recorded in the %s build, replaying in this binary's %s build\n",
			cmd_name, l->r.build, RR_BUILD_NAME);
	if (!rr__strategy_controlled(l->cfg.strategy)) {
		if (check)
			usage_error("--check needs a controlled reproducer (random, pct, surw, pos or input); "
				    "this one is %s, which replays statistically",
				    l->r.strategy);
		printf("statistical replay: %s is free-running, so the same seed is tried for up to "
		       "%" PRIu64 " iterations\n",
		       l->r.strategy, attempts);
		static struct rr__cell cell;
		l->cfg.iterations = attempts;
		rr__run_cell(&l->cfg, NULL, &cell);
		for (int i = 0; i < cell.nsigs; i++) {
			if (!strcmp(cell.sigs[i].sig, l->r.signature)) {
				printf("reproduced %s after %" PRIu64 " of %" PRIu64 " iterations\n",
				       l->r.signature, cell.sigs[i].first_iteration, cell.iterations);
				return RR_EXIT_FINDING;
			}
		}
		printf("not reproduced in %" PRIu64 " iterations%s%s\n", cell.iterations,
		       cell.nsigs ? "; saw " : "", cell.nsigs ? cell.sigs[0].sig : "");
		return RR_EXIT_OK;
	}
	uint64_t runs = check ? check : 1;
	static struct rr__once once[2];
	struct rr__once *first = &once[0], *cur = &once[1];
	uint64_t first_hash = 0;
	for (uint64_t k = 0; k < runs; k++) {
		struct rr__once *o = k ? cur : first;
		rr__run_once(&l->cfg, o);
		if (rr__driver_interrupted())
			return 128 + rr__driver_interrupted();
		if (o->outcome == RR_ERROR) {
			fprintf(stderr, "%s: replay failed: %s\n", cmd_name, o->message);
			return RR_EXIT_ENV;
		}
		uint64_t h = rr__trace_hash(&o->sched);
		if (k == 0) {
			first_hash = h;
			continue;
		}
		if (h != first_hash || strcmp(o->sig, first->sig)) {
			printf("replay --check: run %" PRIu64 " of %" PRIu64 " differs from run 1 "
			       "(run 1: %s; run %" PRIu64 ": %s)\n",
			       k + 1, runs, first->sig, k + 1, o->sig);
			print_divergence(&first->sched, &o->sched, (int)k + 1);
			return RR_EXIT_FINDING;
		}
	}
	int same = !strcmp(first->sig, l->r.signature);
	if (check)
		printf("replay --check: %" PRIu64 " of %" PRIu64 " runs identical (%u events, %u "
		       "preemptions), ending in %s\n",
		       runs, runs, first->sched.nevents, first->sched.preemptions, first->sig);
	else
		printf("replayed %s/%s (%s): %s\n", l->r.scenario, l->r.variant, l->r.strategy,
		       first->outcome == RR_PASS ? "no failure" : first->message);
	if (!l->raw)
		printf("%s\n", same ? "the recorded failure showed again"
				    : "the recorded signature did not show");
	if (check)
		return RR_EXIT_OK;
	return first->outcome != RR_PASS && (same || l->raw) ? RR_EXIT_FINDING : RR_EXIT_OK;
}

static int cmd_explain(int argc, char **argv)
{
	static const struct option longs[] = {
		{"help", no_argument, NULL, 'h'},
		{"scenario", required_argument, NULL, OPT_SCENARIO},
		{"variant", required_argument, NULL, OPT_VARIANT},
		{NULL, 0, NULL, 0},
	};
	struct repro_args a;
	parse_repro_args(argc, argv, SHORTS("h"), longs, explain_help, 0, &a);
	const char *path = a.path;
	static struct loaded loaded;
	struct loaded *l = &loaded;
	load_repro(path, a.scenario, a.variant, l);
	if (!rr__strategy_controlled(l->cfg.strategy))
		usage_error("explain needs a controlled reproducer (random, pct, surw, pos or input); %s runs "
			    "free and has no fixed interleaving",
			    l->r.strategy);
	rr__driver_signals();
	static struct rr__once once;
	struct rr__once *o = &once;
	rr__run_once(&l->cfg, o);
	rr__exec_symbolize(&o->sched, o->message, sizeof o->message);
	printf("%s/%s, strategy %s, seed 0x%016" PRIx64 ", build %s\n", l->r.scenario,
	       l->r.variant, l->r.strategy, l->r.seed, RR_BUILD_NAME);
	printf("outcome: %s\n\n", o->outcome == RR_PASS ? "pass (no failure)" : o->message);
	rr__trace_print(stdout, &o->sched, o->outcome == RR_PASS ? NULL : o->message, 40);
	printf("\n%u scheduling decisions, %u preemptions; '*' marks the preemptions, the steps "
	       "that change shared state and those on what the failure names\n",
	       o->sched.ndecisions, o->sched.preemptions);
	printf("replay: %s replay %s\n", self_path, path);
	return o->outcome == RR_PASS ? RR_EXIT_OK : RR_EXIT_FINDING;
}

/* minimize ends with 128+N on SIGINT or SIGTERM and writes nothing. */
static int minimize_interrupted(const char *out)
{
	int sig = rr__driver_interrupted();
	fprintf(stderr, "%s: stopped by SIG%s; %s not written\n", cmd_name, sigabbrev_np(sig),
		out);
	return 128 + sig;
}

static int cmd_minimize(int argc, char **argv)
{
	static const struct option longs[] = {
		{"help", no_argument, NULL, 'h'},
		{"out", required_argument, NULL, 'o'},
		{"duration", required_argument, NULL, OPT_DURATION},
		{NULL, 0, NULL, 0},
	};
	struct repro_args a;
	parse_repro_args(argc, argv, SHORTS("ho:"), longs, minimize_help, 0, &a);
	const char *path = a.path, *out = a.out;
	static struct loaded loaded;
	struct loaded *l = &loaded;
	load_repro(path, NULL, NULL, l);
	if (!rr__strategy_controlled(l->cfg.strategy))
		usage_error("minimize needs a controlled reproducer (random, pct, surw, pos or input); this one "
			    "is %s",
			    l->r.strategy);
	char outbuf[PATH_MAX];
	if (!out) {
		snprintf(outbuf, sizeof outbuf, "%.*s.min.repro",
			 (int)(strlen(path) > 6 && !strcmp(path + strlen(path) - 6, ".repro")
				       ? strlen(path) - 6
				       : strlen(path)),
			 path);
		out = outbuf;
	}
	rr__driver_signals();
	static struct rr__once once;
	static struct rr__minimized mz;
	struct rr__once *o = &once;
	int mrc = rr__minimize(&l->cfg, o, rr__mono_ns() + a.duration_ns, &mz);
	if (mrc == RR_MIN_INTERRUPTED)
		return minimize_interrupted(out);
	if (mrc == RR_MIN_NO_FAILURE) {
		fprintf(stderr, "%s: %s does not fail in this build (%s); nothing to minimize\n",
			cmd_name, path, o->outcome == RR_PASS ? "it passed" : o->message);
		return RR_EXIT_FINDING;
	}
	if (mrc == RR_MIN_NOT_AN_INPUT) {
		fprintf(stderr, "%s: the failing run's decisions do not replay as an input schedule%s; "
			"keeping the original\n", cmd_name, mz.timed_out ? " within --duration" : "");
		return RR_EXIT_FINDING;
	}
	static struct rr__repro m;
	m = l->r;
	snprintf(m.strategy, sizeof m.strategy, "input");
	m.base[0] = '\0';
	m.noverrides = 0;
	m.nholds = 0;
	m.surw_expect[0] = '\0';
	m.nschedule = mz.n;
	memcpy(m.schedule, mz.schedule, mz.n);
	snprintf(m.signature, sizeof m.signature, "%s", mz.sig);
	snprintf(m.build, sizeof m.build, "%s", RR_BUILD_NAME);
	int rc = rr__repro_write(out, &m);
	if (rc < 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", cmd_name, out, strerror(-rc));
		return RR_EXIT_ENV;
	}
	printf("minimized %s: %u decisions, %u preemptions -> %u decisions, %u preemptions "
	       "(%d trial runs%s)\nwrote %s\n",
	       mz.sig, o->sched.ndecisions > 0 ? l->r.nschedule : 0, mz.preemptions_before, mz.n,
	       mz.preemptions_after, mz.tries,
	       mz.timed_out ? "; stopped at --duration, the shortest so far" : "", out);
	return RR_EXIT_OK;
}

/* Runs PROGRAM from this binary's folder with ARGV (ARGV[0] is replaced by
 * its path). Returns only when it cannot be started. */
static int exec_sibling(const char *program, char **argv)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n < 0) {
		fprintf(stderr, "%s: /proc/self/exe: %s\n", cmd_name, strerror(errno));
		return RR_EXIT_ENV;
	}
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	if (dirlen + strlen(program) >= sizeof path) {
		fprintf(stderr, "%s: path too long\n", cmd_name);
		return RR_EXIT_ENV;
	}
	memcpy(path + dirlen, program, strlen(program) + 1);
	argv[0] = path;
	execv(path, argv);
	fprintf(stderr, "%s: cannot run %s: %s (make bench builds it)\n", cmd_name, path,
		strerror(errno));
	return RR_EXIT_ENV;
}

/* `racerepro bench ...` is the program racerepro-bench beside this binary:
 * the benchmark is not linked into the tool. */
static int cmd_measure(int argc, char **argv)
{
	(void)argc;
	return exec_sibling("racerepro-bench", argv);
}

/* exec and cc live in cli_exec.c; exec is run on an exec: target. */
static int cmd_exec(int argc, char **argv)
{
	return rr__cmd_exec(argc, argv, cmd_run);
}

static int cmd_cc(int argc, char **argv)
{
	return rr__cmd_cc(argc, argv, 0);
}

static int cmd_cxx(int argc, char **argv)
{
	return rr__cmd_cc(argc, argv, 1);
}

int rr__cli_main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	self_path = argv[0];
	if (argc < 2) {
		fputs(usage_text, stderr);
		return RR_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	static char name[64];
	snprintf(name, sizeof name, "racerepro %s", cmd);
	cmd_name = name;
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} commands[] = {
		{"list", cmd_list},	  {"run", cmd_run},
		{"soak", cmd_soak},	  {"replay", cmd_replay},
		{"explain", cmd_explain}, {"minimize", cmd_minimize},
		{"report", rr__cmd_report}, {"bench", cmd_measure},
		{"ftok-audit", rr__cmd_ftok_audit},
		{"exec", cmd_exec},	  {"cc", cmd_cc},
		{"c++", cmd_cxx},
	};
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (!strcmp(cmd, commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	cmd_name = "racerepro";
	usage_error("unknown command '%s' (racerepro --help lists the commands)", cmd);
}
