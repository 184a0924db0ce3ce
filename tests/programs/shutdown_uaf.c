/* Use after free on shutdown: main frees the shared state as soon as it has
 * told the worker to stop, while the worker may still be finishing its last
 * round. ASan is the oracle. -DFIXED: main joins the worker before freeing. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct state {
	int stop;
	long rounds;
};
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void *worker(void *arg)
{
	struct state *s = arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		int stop = s->stop;
		s->rounds++;
		pthread_mutex_unlock(&lock);
		if (stop)
			break;
		usleep(100);
	}
	return NULL;
}

int main(void)
{
	struct state *st = calloc(1, sizeof *st);
	if (!st)
		return 2;
	pthread_t t;
	if (pthread_create(&t, NULL, worker, st))
		return 2;
	usleep(300);
	pthread_mutex_lock(&lock);
	st->stop = 1;
	pthread_mutex_unlock(&lock);
#ifdef FIXED
	pthread_join(t, NULL);
	free(st);
#else
	free(st);
	pthread_join(t, NULL);
#endif
	return 0;
}
