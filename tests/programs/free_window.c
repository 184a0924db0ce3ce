/* Use in the window after free: the owner frees the shared object and only
 * then clears the shared pointer; a reader that still sees the pointer reads
 * the object. Nothing but the free lies between the two, so only a
 * scheduling point right after free (before the next store) opens the
 * window. Without a sanitizer the oracle is the object's first field, a
 * magic value that glibc's free overwrites (the tcache link); with ASan a
 * heap-use-after-free. -DFIXED: the owner unpublishes the pointer under the
 * lock the reader takes, and frees the object after. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define MAGIC 0x5eed5eed5eed5eedL

struct object {
	long magic;
	long value;
};

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
struct object *shared;
long reads;

void *reader(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	struct object *o = shared;
	if (o) {
		if (o->magic != MAGIC) {
			fprintf(stderr, "use after free: the magic is gone\n");
			exit(1);
		}
		reads += o->value;
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

void *owner(void *arg)
{
	(void)arg;
	/* Some work under the lock first: a new thread's first point (under a
	 * sanitizer the thread runs free until it reaches one). */
	pthread_mutex_lock(&lock);
	long v = shared->value;
	pthread_mutex_unlock(&lock);
	(void)v;
#ifdef FIXED
	pthread_mutex_lock(&lock);
	struct object *o = shared;
	shared = NULL;
	pthread_mutex_unlock(&lock);
	free(o);
#else
	free(shared);
	shared = NULL;
#endif
	return NULL;
}

int main(void)
{
	shared = malloc(sizeof *shared);
	if (!shared)
		return 2;
	shared->magic = MAGIC;
	shared->value = 1;
	pthread_t o, r;
	if (pthread_create(&o, NULL, owner, NULL) || pthread_create(&r, NULL, reader, NULL))
		return 2;
	pthread_join(o, NULL);
	pthread_join(r, NULL);
	return 0;
}
