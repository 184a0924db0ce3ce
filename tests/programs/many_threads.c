/* 256 threads, each adding to a counter under a mutex: exec mode's scale
 * (every thread a slot of one schedule). No bug: only the -DFIXED build is
 * used, and the counter must come out right. */
#include <pthread.h>
#include <stdio.h>

#define THREADS 256
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
long total;

void *add(void *arg)
{
	long k = (long)arg;
	for (int i = 0; i < 2; i++) {
		pthread_mutex_lock(&lock);
		total += k;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int main(void)
{
	static pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, add, (void *)i))
			return 2;
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	long want = (long)THREADS * (THREADS - 1);
	if (total != want) {
		fprintf(stderr, "total %ld, expected %ld\n", total, want);
		return 1;
	}
	return 0;
}
