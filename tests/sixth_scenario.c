/*
 * sixth_scenario.c: a stand-in for the next contributor's race, never built
 * into the product. test_registry_counts copies the tree, adds this file to
 * scenarios/ and one line to scenarios/scenarios.def (exactly what adding a
 * scenario takes), and reruns the tests whose expectations depend on how
 * many scenarios there are.
 *
 * The race itself is the classic lost update: two threads read a counter,
 * then write back one more. buggy does it without the lock; fixed holds it.
 */
#include "racerepro.h"

struct counter {
	struct rr_mutex mtx;
	int value;
};

static void *bump(void *arg)
{
	struct counter *c = arg;

	if (RR_FIXED)
		rr_mutex_lock(&c->mtx);
	int v = c->value;
	/* Opens: the other thread's read before this write. */
	rr_point("bump.between_read_and_write");
	c->value = v + 1;
	if (RR_FIXED)
		rr_mutex_unlock(&c->mtx);
	return NULL;
}

static int sixth_iterate(void *state)
{
	struct counter c = {.value = 0};

	(void)state;
	rr_mutex_init(&c.mtx, "counter.mtx");
	struct rr_thread *a = rr_thread_start("bumper-a", bump, &c);
	struct rr_thread *b = a ? rr_thread_start("bumper-b", bump, &c) : NULL;
	if (a)
		rr_thread_join(a);
	if (b)
		rr_thread_join(b);
	rr_mutex_destroy(&c.mtx);
	if (!a || !b)
		return -11; /* -EAGAIN: rr_thread_start recorded why */
	if (c.value != 2)
		rr_bug("lost update: two increments left the counter at %d", c.value);
	return 0;
}

static const char *const roles[] = {"main", "bumper-a", "bumper-b", NULL};

RR_DEFINE_SCENARIO(sixth_scenario) = {
	.name = "sixth_scenario",
	.upstream = "(a stand-in for a sixth race)",
	.summary = "two threads increment a counter; buggy without the lock",
	.symptom = "lost update",
	.roles = roles,
	.variants = rr_variants_buggy_fixed,
	.params = NULL,
	.setup = NULL,
	.iterate = sixth_iterate,
	.teardown = NULL,
};
