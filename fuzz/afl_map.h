/*
 * afl_map.h: AFL++'s coverage map, for fuzz/libfuzzer.c (fuzz/afl_map.c says
 * why it lives in a file of its own).
 */
#ifndef RR_AFL_MAP_H
#define RR_AFL_MAP_H

#include <stdint.h>

/* The map and its size in bytes; NULL before the fork server set it up. */
uint8_t *rr__afl_map(uint32_t *size);

#endif
