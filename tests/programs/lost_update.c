/* Lost update on a plain counter: two threads increment it without a lock.
 * Only memory-level points (racerepro cc) can preempt between the load and the
 * store. -DFIXED: the increments under a mutex. */
#include <pthread.h>
#include <stdio.h>

#define N 20
long counter;
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void *adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < N; i++) {
#ifdef FIXED
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
#else
		counter++;
#endif
	}
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	if (pthread_create(&a, NULL, adder, NULL) || pthread_create(&b, NULL, adder, NULL))
		return 2;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	if (counter != 2 * N) {
		fprintf(stderr, "lost update: counter is %ld, expected %d\n", counter, 2 * N);
		return 1;
	}
	return 0;
}
