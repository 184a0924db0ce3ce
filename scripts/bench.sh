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
# failure per cell and contender, Kaplan-Meier medians, log-rank against
# pct, failing fractions; all contenders in racerepro-test (it has the hard
# cell, test_reorder, which stays out of the product): reports/bench-search.md.
mk BUILDROOT="$root" SAN=none "$root/none/racerepro-test"
if [ "$mode" = quick ]; then
	search=(--trials 5 --cap 500 --rate-iterations 100)
else
	search=(--trials 20 --cap 3000 --rate-iterations 500)
	# The libfuzzer column: the targets built above, when they built.
	[ -x "$root/fuzz/libfuzzer/broken_pipe" ] && search+=(--fuzz-dir "$root/fuzz/libfuzzer")
fi
echo "bench.sh: $root/none/racerepro-bench --search --bin $root/none/racerepro-test ${search[*]}" >&2
exec "$root/none/racerepro-bench" --search --bin "$root/none/racerepro-test" "${search[@]}" --out reports
