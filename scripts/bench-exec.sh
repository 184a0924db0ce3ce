#!/usr/bin/env bash
# Exec mode's benchmark rows (README "Your own program"): the cost of a
# scheduling point in a program run by `racerepro exec`, against the same
# program run natively, and exec iterations per second on a small program.
# Writes reports/bench-exec.md. Never part of make test (timings).
#
#   scripts/bench-exec.sh [BUILD_DIR]     (default build/none)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/none}/racerepro
[ -x "$bin" ] || { echo "bench-exec.sh: $bin missing: run make first" >&2; exit 3; }
tmp=$(mktemp -d /tmp/racerepro-bench-exec-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -g -rdynamic -pthread tests/programs/bench_points.c -o "$tmp/bp"
"$bin" cc -O2 -g tests/programs/bench_points.c -o "$tmp/bp_cc"
gcc -O1 -g -rdynamic -pthread -DFIXED tests/programs/abba.c -o "$tmp/abba"

ns() { sed -n 's/^ns_per_op //p' "$1"; }
# ns per operation of PROG ITER MODE THREADS under STRATEGY (native: "-")
measure() {
	local strategy=$1 prog=$2 iter=$3 mode=$4 threads=$5 out="$tmp/out"
	rm -f "$out"
	if [ "$strategy" = - ]; then
		"$prog" "$out" "$iter" "$mode" "$threads"
	else
		"$bin" exec --strategy "$strategy" --seed 1 --iterations 1 --quiet --out "$tmp/r" \
			-- "$prog" "$out" "$iter" "$mode" "$threads" >/dev/null 2>&1 || true
		rm -rf "$tmp/r"
	fi
	[ -f "$out" ] && ns "$out" || echo "n/a"
}
{
	echo "# exec mode benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "| measurement | native | exec none | exec pct | exec random |"
	echo "|---|---|---|---|---|"
	for threads in 2 16 64; do
		echo "| mutex lock+unlock, $threads threads, ns per pair | $(measure - "$tmp/bp" 200000 0 $threads) |" \
			"$(measure none "$tmp/bp" 20000 0 $threads) | $(measure pct "$tmp/bp" 20000 0 $threads) |" \
			"$(measure random "$tmp/bp" 2000 0 $threads) |"
	done
	echo "| load of a global (racerepro cc), 2 threads, ns per load | $(measure - "$tmp/bp_cc" 2000000 1 2) |" \
		"$(measure none "$tmp/bp_cc" 200000 1 2) | $(measure pct "$tmp/bp_cc" 200000 1 2) |" \
		"$(measure random "$tmp/bp_cc" 20000 1 2) |"
	echo
	echo "pct mostly keeps the current thread (points that do not switch); random switches at"
	echo "about half the points (a switch is a futex hand-off to one thread's own word)."
	echo
	echo "| small program (abba twin, 2 threads), 500 iterations | iterations/s |"
	echo "|---|---|"
	for strategy in none pct; do
		start=$(date +%s.%N)
		"$bin" exec --variant fixed --strategy "$strategy" --seed 1 --iterations 500 --quiet \
			--out "$tmp/r" -- "$tmp/abba" >/dev/null 2>&1 || true
		end=$(date +%s.%N)
		rm -rf "$tmp/r"
		echo "| exec --strategy $strategy | $(echo "500 / ($end - $start)" | bc -l | xargs printf '%.0f') |"
	done
	start=$(date +%s.%N)
	for i in $(seq 500); do "$tmp/abba" >/dev/null; done
	end=$(date +%s.%N)
	echo "| native fork+exec in a shell loop | $(echo "500 / ($end - $start)" | bc -l | xargs printf '%.0f') |"
} >reports/bench-exec.md
cat reports/bench-exec.md
