#!/usr/bin/env bash
# make bench [BENCH=quick|full]: builds what the bench needs and runs
# racerepro-bench, which writes reports/bench.md, bench.json and bench.svg.
#
#   scripts/bench.sh [quick|full] [extra racerepro-bench options...]
#
# Builds (under $BUILDROOT, default build):
#   none/racerepro-bench  the benchmark program (bench/bench.c), which times
#                         the strategies in worker processes
#   none/racerepro        the plain build, for the rate table (make's BIN)
#   asan/, tsan/          for the per-build rate table; full mode makes them,
#                         quick mode uses them only if they exist already
#   fuzz/libfuzzer/<sc>   the libFuzzer targets (clang) for the libfuzzer rows,
#                         which only full mode measures
#   bare/none/racerepro-bench  the benchmark program with the scenarios
#                         compiled with racerepro_bare.h (make BARE=1: race
#                         points and traces compiled out, wrappers straight to
#                         the real calls), the baseline of the overhead table
# quick: 5 trials per strategy, caps of 1000 iterations / 3 s, short rate runs:
# about two minutes once the builds exist. full: 20 trials, caps of 100000
# iterations / 30 s, 5 s rate runs: tens of minutes (the `none` baseline
# often runs to the cap). Then scripts/bench-exec.sh (exec mode) in the same
# mode, and the search protocol.
set -euo pipefail

mode=${1:-full}
[ $# -eq 0 ] || shift
case "$mode" in
quick | full) ;;
*)
	echo "bench.sh: unknown mode '$mode' (use quick or full)" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
root=${BUILDROOT:-${RR_BUILDROOT:-build}}
make_cmd=${MAKE:-make}
mk() { "$make_cmd" --no-print-directory "$@" >&2; }

mk BUILDROOT="$root" SAN=none
builds=none
for san in asan tsan; do
	if [ "$mode" = full ]; then
		mk BUILDROOT="$root" SAN="$san"
	fi
	if [ -x "$root/$san/racerepro" ]; then
		builds="$builds,$san"
	else
		echo "bench.sh: $root/$san/racerepro is not built; quick mode leaves it out (make SAN=$san adds it)" >&2
	fi
done
# The libFuzzer targets (fuzz/fuzz.mk: clang, ASan) for the libfuzzer rows,
# full mode only.
if [ "$mode" = full ]; then
	mk BUILDROOT="$root" fuzz-libfuzzer ||
		echo "bench.sh: the libFuzzer targets did not build; the libfuzzer rows are left out" >&2
fi
# The bare build is a build of its own (same Makefile, same flags; BARE=1
# compiles the scenario files with -DRR_BARE, which brings in
# racerepro_bare.h; the harness's own files are unchanged).
mk BUILDROOT="$root/bare" SAN=none BARE=1 "$root/bare/none/racerepro-bench"

args=(--buildroot "$root" --builds "$builds" --bare "$root/bare/none/racerepro-bench" --out reports)
# The libfuzzer rows cost a fuzzer start (and the scenario's setup) per trial:
# full mode only, to keep quick mode near two minutes.
if [ "$mode" = quick ]; then
	args+=(--quick)
else
	args+=(--fuzz-dir "$root/fuzz/libfuzzer")
fi
mkdir -p reports
echo "bench.sh: $root/none/racerepro-bench ${args[*]} $*" >&2
"$root/none/racerepro-bench" "${args[@]}" "$@" || exit $?
# Exec mode's rows (issue 10): the cost of a scheduling point in exec mode
# against native and the scenario harness (test_points, in racerepro-test),
# exec iterations per second, schedules to the first failure of each bug
# program per strategy: reports/bench-exec.md.
mk BUILDROOT="$root" SAN=none "$root/none/racerepro-test"
scripts/bench-exec.sh "$mode" "$root/none" >/dev/null || exit $?
echo "bench.sh: wrote reports/bench-exec.md" >&2
# The search strategies' protocol (issue 11): executions to the first
# failure per cell and contender, Kaplan-Meier medians, log-rank tests,
# failing fractions, feedback on/off on the hard cell, one check per
# contender on the fixed variants. Every contender in the ASan build, like the
# fuzz targets: racerepro-test (it has the hard cell, test_reorder, which
# stays out of the product, and so do its fuzz targets). Full: 20 trials,
# caps of 3000, with the libFuzzer and AFL++ columns (built here). Quick: 5
# trials, caps of 300, and the fuzzer columns only if their targets are
# built already.
mk BUILDROOT="$root" SAN=asan "$root/asan/racerepro-test"
if [ "$mode" = quick ]; then
	# ftok_collision (cell 3) left out: its setup makes 65,537 files per trial;
	# short rate runs: a failing ASan iteration of cancel_uaf costs about 1 s.
	search=(--trials 5 --cap 300 --rate-iterations 20 --fixed-iterations 20 --cells 0,1,2,4,5,6,7,8)
else
	# Failing fractions from 500 iterations or 60 s per strategy and cell,
	# whichever ends first (a failing ASan iteration of cancel_uaf costs
	# about a second, one of ftok_collision a new worker's 65,537 key files).
	search=(--trials 20 --cap 3000 --rate-iterations 500 --rate-seconds 60 --fixed-iterations 200)
	mk BUILDROOT="$root" fuzz-libfuzzer fuzz-afl fuzz-test-targets ||
		echo "bench.sh: the fuzz targets did not build; the fuzzer columns are left out" >&2
fi
[ -x "$root/fuzz/libfuzzer/test_reorder" ] && search+=(--fuzz-dir "$root/fuzz/libfuzzer")
[ -x "$root/fuzz/afl/test_reorder" ] && [ -f "$root/fuzz/afl/libschedule-mutator.so" ] &&
	command -v afl-fuzz >/dev/null && search+=(--afl-dir "$root/fuzz/afl")
echo "bench.sh: $root/none/racerepro-bench --search --bin $root/asan/racerepro-test ${search[*]}" >&2
exec "$root/none/racerepro-bench" --search --bin "$root/asan/racerepro-test" "${search[@]}" --out reports
