/* ABBA deadlock: two threads take two locks in opposite orders.
 * -DFIXED: both take them in the same order. */
#include <pthread.h>
#include <stdio.h>

pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;
int balance_a = 100, balance_b = 100;

void *transfer_ab(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock_a);
	pthread_mutex_lock(&lock_b);
	balance_a -= 10;
	balance_b += 10;
	pthread_mutex_unlock(&lock_b);
	pthread_mutex_unlock(&lock_a);
	return NULL;
}

void *transfer_ba(void *arg)
{
	(void)arg;
#ifdef FIXED
	pthread_mutex_lock(&lock_a);
	pthread_mutex_lock(&lock_b);
#else
	pthread_mutex_lock(&lock_b);
	pthread_mutex_lock(&lock_a);
#endif
	balance_b -= 5;
	balance_a += 5;
	pthread_mutex_unlock(&lock_a);
	pthread_mutex_unlock(&lock_b);
	return NULL;
}

int main(void)
{
	pthread_t t1, t2;
	if (pthread_create(&t1, NULL, transfer_ab, NULL) || pthread_create(&t2, NULL, transfer_ba, NULL))
		return 2;
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	printf("%d %d\n", balance_a, balance_b);
	return balance_a + balance_b == 200 ? 0 : 1;
}
