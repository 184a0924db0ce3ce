/* Lost wakeup: the consumer tests the flag without the lock, then waits; the
 * producer's signal can fall between the two and the consumer sleeps forever.
 * -DFIXED: the test and the wait under the lock, in a loop. */
#include <pthread.h>
#include <stdio.h>

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;
volatile int ready;

void *consumer(void *arg)
{
	(void)arg;
#ifdef FIXED
	pthread_mutex_lock(&lock);
	while (!ready)
		pthread_cond_wait(&ready_cv, &lock);
	pthread_mutex_unlock(&lock);
#else
	if (!ready) {
		pthread_mutex_lock(&lock);
		pthread_cond_wait(&ready_cv, &lock);
		pthread_mutex_unlock(&lock);
	}
#endif
	return NULL;
}

void *producer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	ready = 1;
	pthread_cond_signal(&ready_cv);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	pthread_t c, p;
	if (pthread_create(&c, NULL, consumer, NULL) || pthread_create(&p, NULL, producer, NULL))
		return 2;
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	puts("done");
	return 0;
}
