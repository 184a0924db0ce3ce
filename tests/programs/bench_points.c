/* Exec mode's cost per scheduling point (scripts/bench-exec.sh; never a
 * test). Two threads take a shared mutex ITER times each; built with
 * racerepro cc, each critical section also loads and stores a global. The
 * program times itself and writes "ns_per_op N" to OUTFILE, so that the
 * number covers the loop only, not fork, exec and the preload. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter, iters;
static volatile long sink;
static int mode; /* 0: lock/unlock, 1: plain loads (memory points) */

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < iters; i++) {
		if (mode == 0) {
			pthread_mutex_lock(&lock);
			counter++;
			pthread_mutex_unlock(&lock);
		} else {
			sink = counter;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	iters = atol(argv[2]);
	mode = atoi(argv[3]);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pthread_t t1, t2;
	if (pthread_create(&t1, NULL, worker, NULL) || pthread_create(&t2, NULL, worker, NULL))
		return 2;
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	FILE *f = fopen(argv[1], "w");
	if (!f)
		return 2;
	fprintf(f, "ns_per_op %.1f\n", ns / (2.0 * (double)iters));
	fclose(f);
	return 0;
}
