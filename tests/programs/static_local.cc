// A C++ function-local static whose constructor yields (sched_yield: a
// scheduling point inside the initialisation). Built with
// -fno-threadsafe-statics (the bug) two threads can both construct it;
// the twin uses the normal guarded statics (__cxa_guard_acquire/release,
// which the runtime models: the second thread parks until the first is done).
#include <pthread.h>
#include <sched.h>
#include <cstdio>

static int constructions;

struct registry {
	int entries;
	registry() : entries(0)
	{
		sched_yield();
		constructions++;
	}
};

static registry &get_registry()
{
	static registry r;
	return r;
}

extern "C" void *user(void *)
{
	__atomic_fetch_add(&get_registry().entries, 1, __ATOMIC_RELAXED);
	return nullptr;
}

int main()
{
	pthread_t a, b;
	if (pthread_create(&a, nullptr, user, nullptr) || pthread_create(&b, nullptr, user, nullptr))
		return 2;
	pthread_join(a, nullptr);
	pthread_join(b, nullptr);
	if (constructions != 1) {
		std::fprintf(stderr, "static local constructed %d times\n", constructions);
		return 1;
	}
	return 0;
}
