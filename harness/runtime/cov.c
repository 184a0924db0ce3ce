/*
 * cov.c: the load/store hooks clang calls for -fsanitize-coverage=trace-loads,
 * trace-stores, linked into programs built with `racerepro cc`. A hook that
 * does not schedule is a load and a branch: the runtime arms them only while
 * a strategy runs the program (rr__mem_armed, in libracerepro-rt.so).
 */
#include <stdint.h>

extern int rr__mem_armed;
void rr__mem_point(const void *addr, int store, const void *pc);

#define HOOK(kind, n, type, store)                                                                 \
	void __sanitizer_cov_##kind##n(type *p);                                                   \
	void __sanitizer_cov_##kind##n(type *p)                                                    \
	{                                                                                          \
		if (__builtin_expect(__atomic_load_n(&rr__mem_armed, __ATOMIC_RELAXED), 0))        \
			rr__mem_point(p, store, __builtin_return_address(0));                      \
	}

HOOK(load, 1, uint8_t, 0)
HOOK(load, 2, uint16_t, 0)
HOOK(load, 4, uint32_t, 0)
HOOK(load, 8, uint64_t, 0)
HOOK(load, 16, __int128, 0)
HOOK(store, 1, uint8_t, 1)
HOOK(store, 2, uint16_t, 1)
HOOK(store, 4, uint32_t, 1)
HOOK(store, 8, uint64_t, 1)
HOOK(store, 16, __int128, 1)

/* free as a point after it takes effect: racerepro cc links with
 * -Wl,--wrap=free, so the program's calls land here. In a sanitizer-built
 * program the sanitizer's free sits in the executable and wins over the
 * runtime's preloaded one, which therefore never sees them. */
void rr__free_point(const void *p, const void *pc);
void __real_free(void *p) __attribute__((weak)); /* only --wrap=free defines it */
void __wrap_free(void *p);
void __wrap_free(void *p)
{
	__real_free(p);
	if (__builtin_expect(__atomic_load_n(&rr__mem_armed, __ATOMIC_RELAXED), 0))
		rr__free_point(p, __builtin_return_address(0));
}

/* C++'s delete, likewise (racerepro c++ wraps the four plain forms): a
 * sanitizer's operator delete never calls free. The runtime sees to it that
 * libstdc++'s, which does, makes one point, not two. The real ones are weak:
 * a C program has none. */
void rr__delete_point(const void *p, const void *pc);
#define DELETE_WRAP(sym, params, args)                                                             \
	void __real_##sym params __attribute__((weak));                                            \
	void __wrap_##sym params;                                                                  \
	void __wrap_##sym params                                                                   \
	{                                                                                          \
		__real_##sym args;                                                                 \
		if (__builtin_expect(__atomic_load_n(&rr__mem_armed, __ATOMIC_RELAXED), 0))        \
			rr__delete_point(p, __builtin_return_address(0));                          \
	}

DELETE_WRAP(_ZdlPv, (void *p), (p))
DELETE_WRAP(_ZdaPv, (void *p), (p))
DELETE_WRAP(_ZdlPvm, (void *p, unsigned long n), (p, n))
DELETE_WRAP(_ZdaPvm, (void *p, unsigned long n), (p, n))

/* clang 14 emits no load/store hooks without a coverage mode. func with
 * trace-pc-guard is the cheapest one that stores nothing in the program's
 * memory: inline-8bit-counters would, and TSan then reports the counters'
 * increments as data races. The guards are not read. */
void __sanitizer_cov_trace_pc_guard_init(uint32_t *start, uint32_t *stop);
void __sanitizer_cov_trace_pc_guard_init(uint32_t *start, uint32_t *stop)
{
	(void)start;
	(void)stop;
}

void __sanitizer_cov_trace_pc_guard(uint32_t *guard);
void __sanitizer_cov_trace_pc_guard(uint32_t *guard)
{
	(void)guard;
}
