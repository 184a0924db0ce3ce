/* A lost wakeup through the condition variables' GLIBC_2.2.5 compatibility
 * versions (x86_64), which old binaries still bind: the consumer tests the
 * flag without the lock, then waits; the producer's signal can fall between
 * the two. -DFIXED: the test and the wait under the lock, in a loop. The
 * runtime must shim these versions too, without calling the new ABI's
 * functions on the old ABI's object. */
#include <pthread.h>
#include <stdio.h>

__asm__(".symver pthread_cond_init, pthread_cond_init@GLIBC_2.2.5");
__asm__(".symver pthread_cond_destroy, pthread_cond_destroy@GLIBC_2.2.5");
__asm__(".symver pthread_cond_wait, pthread_cond_wait@GLIBC_2.2.5");
__asm__(".symver pthread_cond_timedwait, pthread_cond_timedwait@GLIBC_2.2.5");
__asm__(".symver pthread_cond_signal, pthread_cond_signal@GLIBC_2.2.5");
__asm__(".symver pthread_cond_broadcast, pthread_cond_broadcast@GLIBC_2.2.5");

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t ready_cv;
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
	if (pthread_cond_init(&ready_cv, NULL))
		return 2;
	if (pthread_create(&c, NULL, consumer, NULL) || pthread_create(&p, NULL, producer, NULL))
		return 2;
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	/* The old ABI's broadcast and destroy, on the object the waits used. */
	if (pthread_cond_broadcast(&ready_cv) || pthread_cond_destroy(&ready_cv))
		return 2;
	puts("done");
	return 0;
}
