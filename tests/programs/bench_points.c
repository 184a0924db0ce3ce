/* Exec mode's cost per scheduling point (scripts/bench-exec.sh; never a
 * test): bench_points OUTFILE ITER MODE [THREADS]. THREADS threads (default
 * 2) each take a shared mutex ITER times (MODE 0) or load a global ITER times
 * (MODE 1: memory points when built with racerepro cc). The program times
 * itself and writes "ns_per_op N" to OUTFILE, so that the number covers the
 * loop only, not fork, exec and the preload. */
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
	int n = argc > 4 ? atoi(argv[4]) : 2;
	if (n < 1 || n > 256)
		return 2;
	static pthread_t t[256];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			return 2;
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	FILE *f = fopen(argv[1], "w");
	if (!f)
		return 2;
	fprintf(f, "ns_per_op %.1f\n", ns / ((double)n * (double)iters));
	fclose(f);
	return 0;
}
