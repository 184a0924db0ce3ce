/* A call the runtime cannot see: the waiter blocks in a raw futex syscall
 * until the waker sets the word. Under a controlled strategy the waiter may
 * hold the run token while it blocks; racerepro must notice the stall, let
 * the program run free and report the iteration as nondeterministic rather
 * than hang. -DFIXED: the same hand-off through a condition variable, which
 * the runtime models. */
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

uint32_t word;
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

void *waiter(void *arg)
{
	(void)arg;
#ifdef FIXED
	pthread_mutex_lock(&lock);
	while (!word)
		pthread_cond_wait(&cv, &lock);
	pthread_mutex_unlock(&lock);
#else
	while (!__atomic_load_n(&word, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &word, FUTEX_WAIT, 0, NULL, NULL, 0);
#endif
	return NULL;
}

void *waker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	__atomic_store_n(&word, 1, __ATOMIC_RELEASE);
#ifdef FIXED
	pthread_cond_signal(&cv);
#endif
	pthread_mutex_unlock(&lock);
#ifndef FIXED
	syscall(SYS_futex, &word, FUTEX_WAKE, 1, NULL, NULL, 0);
#endif
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	if (pthread_create(&a, NULL, waiter, NULL) || pthread_create(&b, NULL, waker, NULL))
		return 2;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 0;
}
