/*
 * sanitizer.h: the parts of the sanitizer runtimes the harness calls, in one
 * place. gcc and clang ship no common header with the TSan annotations, so
 * they are declared here; each is defined by the runtime of the build that
 * uses it (RR_BUILD_ASAN, RR_BUILD_TSAN, RR_BUILD_UBSAN).
 */
#ifndef RR_SANITIZER_H
#define RR_SANITIZER_H

#if defined(RR_BUILD_ASAN) || defined(RR_BUILD_TSAN) || defined(RR_BUILD_UBSAN)
#define RR_HAVE_SANITIZER 1
/* Where reports go: PATH.<pid> per process. */
void __sanitizer_set_report_path(const char *path);
#else
#define RR_HAVE_SANITIZER 0
#endif

#if defined(RR_BUILD_TSAN)
/* TSan's dynamic annotations: what the run token hands over invisibly. */
void AnnotateIgnoreReadsBegin(const char *f, int l);
void AnnotateIgnoreReadsEnd(const char *f, int l);
void AnnotateIgnoreWritesBegin(const char *f, int l);
void AnnotateIgnoreWritesEnd(const char *f, int l);
void AnnotateIgnoreSyncBegin(const char *f, int l);
void AnnotateIgnoreSyncEnd(const char *f, int l);
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#endif

#endif
