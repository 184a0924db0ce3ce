/* A program whose allocator lives in a shared library it links (as with
 * jemalloc or tcmalloc): the runtime's preloaded free must hand each pointer
 * to that allocator's free, never to glibc's, which would abort on the
 * allocator's pointers ("free(): invalid pointer"). Not a bug program: it
 * must pass under racerepro. Built twice: -DALLOCATOR makes the library, a
 * header of 16 bytes in front of glibc's blocks. */
#ifdef ALLOCATOR
#include <stddef.h>
#include <string.h>

void *__libc_malloc(size_t n);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

#define HDR 16

void *malloc(size_t n)
{
	char *p = __libc_malloc(n + HDR);
	return p ? p + HDR : NULL;
}

void free(void *p)
{
	if (p)
		__libc_free((char *)p - HDR);
}

void *calloc(size_t a, size_t b)
{
	if (b && a > (size_t)-1 / b)
		return NULL;
	void *p = malloc(a * b);
	if (p)
		memset(p, 0, a * b);
	return p;
}

void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	char *q = __libc_realloc((char *)p - HDR, n + HDR);
	return q ? q + HDR : NULL;
}
#else
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
long total;

void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		long *p = malloc(sizeof *p * 4);
		if (!p)
			exit(2);
		p[0] = i;
		pthread_mutex_lock(&lock);
		total += p[0];
		pthread_mutex_unlock(&lock);
		free(p);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			return 2;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	char *s = malloc(32);
	snprintf(s, 32, "%ld", total);
	free(s);
	return total == 3 * 49 * 50 / 2 ? 0 : 1;
}
#endif
