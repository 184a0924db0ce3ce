/* A flag published before its payload: the writer sets `published` and only
 * then fills the message; a reader that sees the flag can read a half-written
 * payload. -DFIXED: the payload first, then the flag (a release store). */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct message {
	int length;
	char text[16];
} msg;
int published;

void *writer(void *arg)
{
	(void)arg;
#ifdef FIXED
	msg.length = 5;
	memcpy(msg.text, "hello", 6);
	__atomic_store_n(&published, 1, __ATOMIC_RELEASE);
#else
	published = 1;
	msg.length = 5;
	msg.text[0] = 'h';
#endif
	return NULL;
}

void *reader(void *arg)
{
	(void)arg;
	if (__atomic_load_n(&published, __ATOMIC_ACQUIRE))
		assert(msg.length == 5 && msg.text[0] == 'h');
	return NULL;
}

int main(void)
{
	pthread_t w, r;
	if (pthread_create(&w, NULL, writer, NULL) || pthread_create(&r, NULL, reader, NULL))
		return 2;
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	return 0;
}
