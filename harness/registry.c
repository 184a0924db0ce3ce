/*
 * registry.c: the table of scenarios, built from scenarios/scenarios.def (and,
 * in the test binary only, tests/test_scenarios.def).
 */
#include <string.h>

#include "rr_internal.h"

#define RR_SCENARIO(id) extern const struct rr_scenario rr_scenario_##id;
#include "scenarios.def"
#ifdef RR_WITH_TEST_SCENARIOS
#include "test_scenarios.def"
#endif
#undef RR_SCENARIO

#define RR_SCENARIO(id) &rr_scenario_##id,
const struct rr_scenario *const rr__registry[] = {
#include "scenarios.def"
#ifdef RR_WITH_TEST_SCENARIOS
#include "test_scenarios.def"
#endif
	NULL};
#undef RR_SCENARIO

/* exec.c is in the driver layer; the fuzz targets link this table without
 * it, and an exec: name then finds nothing. */
#pragma weak rr__exec_scenario

const struct rr_scenario *rr__scenario_find(const char *name)
{
	if (!strncmp(name, "exec:", 5))
		return rr__exec_scenario ? rr__exec_scenario(name) : NULL;
	for (int i = 0; rr__registry[i]; i++)
		if (!strcmp(rr__registry[i]->name, name))
			return rr__registry[i];
	return NULL;
}

const struct rr_variant *rr__variant_find(const struct rr_scenario *sc, const char *name)
{
	for (const struct rr_variant *v = sc->variants; v && v->name; v++)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}
