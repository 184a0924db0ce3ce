/*
 * bench.h: what the benchmark program's two files share (bench.c runs the
 * main measurements, search.c the search strategies' protocol).
 */
#ifndef RR_BENCH_H
#define RR_BENCH_H

/* `racerepro-bench --search ...`; ARGV[0] is "--search". Returns the exit code. */
int rr__bench_search(int argc, char **argv);

/* Runs ARGV with stdout to OUT_PATH and stderr to ERR_PATH (NULL: /dev/null),
 * through a helper process so that the RSS figure covers only this run's
 * processes. Returns the exit status (or -1), the peak RSS in *RSS_KB. */
int rr__bench_run_measured(char *const argv[], const char *out_path, const char *err_path,
			   long *rss_kb);

#endif
