/*
 * afl_map.c: AFL++'s coverage map for the interleaving feedback of
 * fuzz/libfuzzer.c. Compiled with plain clang, not afl-clang-fast: AFL++'s
 * pass declares __afl_area_ptr in every module it instruments, and a C
 * declaration of the same name in such a module is renamed by LLVM (to an
 * undefined __afl_area_ptr.N) instead of merged. Here nothing is
 * instrumented, so the names resolve to AFL++'s runtime.
 */
#include <stdint.h>

#include "afl_map.h"

/* AFL++'s runtime defines them (no header of its declares them for C). */
extern uint8_t *__afl_area_ptr;
extern uint32_t __afl_map_size;

/* The map is re-pointed by the fork server at startup (shared memory with
 * afl-fuzz), so callers ask every time instead of caching the pointer. */
uint8_t *rr__afl_map(uint32_t *size)
{
	*size = __afl_map_size;
	return __afl_area_ptr;
}
