/*
 * sanitizer.c: the options every sanitizer build starts with. Sanitizers stop
 * at the first report and exit with the code the supervisor reads as
 * `sanitizer`; each worker's log path is set at run time (supervisor.c).
 *
 * Its own file because clang's TSan calls __tsan_default_options before it
 * has set itself up: the TSan fuzz target compiles this file without TSan
 * (fuzz/fuzz.mk), which must not cost any other code its instrumentation.
 */
#include "rr_internal.h"

/* The sanitizers look these up by name; declared for -Wmissing-prototypes. */

#define SAN_COMMON "halt_on_error=1:exitcode=66:print_stacktrace=1:handle_abort=0"
/* The sanitizers call these before they are set up: clang must not
 * instrument them (gcc does not). */
#if defined(__clang__)
#define RR_SAN_OPTIONS_FN __attribute__((disable_sanitizer_instrumentation))
#else
#define RR_SAN_OPTIONS_FN
#endif
const char *__asan_default_options(void);
RR_SAN_OPTIONS_FN const char *__asan_default_options(void)
{
	return SAN_COMMON ":detect_leaks=1:abort_on_error=0";
}
const char *__tsan_default_options(void);
RR_SAN_OPTIONS_FN const char *__tsan_default_options(void)
{
	return SAN_COMMON ":second_deadlock_stack=1:report_signal_unsafe=0";
}
const char *__ubsan_default_options(void);
RR_SAN_OPTIONS_FN const char *__ubsan_default_options(void)
{
	return SAN_COMMON;
}
