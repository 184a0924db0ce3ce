/*
 * seed.c: timing seeds (one per iteration, derived from the run seed) and the
 * parsers of the numbers and durations the options and files take.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rr_internal.h"

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
const char *rr__next_word(const char **p, size_t *len)
{
	const char *w = *p;
	while (*w == ' ')
		w++;
	if (!*w)
		return NULL;
	const char *end = strchr(w, ' ');
	if (!end)
		end = w + strlen(w);
	*len = (size_t)(end - w);
	*p = end;
	return w;
}

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

