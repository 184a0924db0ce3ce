/*
 * crash_race.c: a check-then-use race that ends in a NULL dereference. The
 * sender checks under the lock that the connection is open, drops the lock,
 * then uses the connection; the closer clears it in between. The twin
 * (-DFIXED) uses the connection before it drops the lock.
 * The crash is in send_on: tests/test_exec_process.c checks that gdb's
 * backtrace of the failure names it.
 */
#include <pthread.h>
#include <stdio.h>

struct conn {
	int fd;
	int sent;
};

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
struct conn the_conn = {3, 0};
struct conn *conn = &the_conn;

__attribute__((noinline)) void send_on(struct conn *c)
{
	c->sent++;
}

void *sender(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	int open = conn != NULL;
#ifdef FIXED
	if (open)
		send_on(conn);
	pthread_mutex_unlock(&lock);
#else
	pthread_mutex_unlock(&lock);
	if (open)
		send_on(conn); /* the closer may have run since the check */
#endif
	return NULL;
}

void *closer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	conn = NULL;
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	pthread_t s, c;
	if (pthread_create(&s, NULL, sender, NULL) || pthread_create(&c, NULL, closer, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return 2;
	}
	pthread_join(s, NULL);
	pthread_join(c, NULL);
	return 0;
}
