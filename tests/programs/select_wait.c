/* A thread waiting in select (then pselect) on a pipe that another thread
 * writes later, and a select that times out on an empty pipe. Not a bug
 * program: under racerepro it must run under control (the waiter parks on
 * readiness, its timeouts in virtual time), never be released to
 * free-running. Exits 1 when select answers wrongly. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>
#include <unistd.h>

int fds[2];

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "select_wait: %s\n", what);
		exit(1);
	}
}

void *writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++) {
		usleep(20000); /* after the waiter is in select */
		check(write(fds[1], "x", 1) == 1, "write");
	}
	return NULL;
}

int main(void)
{
	char c;
	check(pipe(fds) == 0, "pipe");
	/* An empty pipe: select times out, with the time left at zero. */
	fd_set r;
	FD_ZERO(&r);
	FD_SET(fds[0], &r);
	struct timeval tv = {0, 50000};
	check(select(fds[0] + 1, &r, NULL, NULL, &tv) == 0, "select on an empty pipe did not time out");
	check(!FD_ISSET(fds[0], &r), "select left the fd set after a timeout");
	check(tv.tv_sec == 0 && tv.tv_usec == 0, "select left time in the timeval after a timeout");
	pthread_t t;
	check(pthread_create(&t, NULL, writer, NULL) == 0, "pthread_create");
	FD_ZERO(&r);
	FD_SET(fds[0], &r);
	fd_set w;
	FD_ZERO(&w); /* the write end is ready at once, so not asked for */
	tv.tv_sec = 10;
	tv.tv_usec = 0;
	check(select(fds[0] + 1, &r, &w, NULL, &tv) == 1, "select did not report the written pipe");
	check(FD_ISSET(fds[0], &r), "select did not set the read fd");
	check(tv.tv_sec >= 9 && tv.tv_sec <= 10, "select did not leave the time not slept");
	check(read(fds[0], &c, 1) == 1, "read");
	FD_ZERO(&r);
	FD_SET(fds[0], &r);
	sigset_t mask;
	sigemptyset(&mask);
	check(pselect(fds[0] + 1, &r, NULL, NULL, NULL, &mask) == 1, "pselect did not report the pipe");
	check(FD_ISSET(fds[0], &r), "pselect did not set the read fd");
	check(read(fds[0], &c, 1) == 1, "read");
	check(pthread_join(t, NULL) == 0, "pthread_join");
	close(fds[0]);
	close(fds[1]);
	return 0;
}
