#!/usr/bin/env bash
# Exec mode's benchmark rows (issue 10; README "Your own program"), part of
# make bench: the cost of a scheduling point in a program run by
# `racerepro exec`, against the same loop natively and in the scenario
# harness (the test-only scenario test_points); exec iterations per second on
# a small program; and schedules and seconds to the first failure of each bug
# program in tests/programs/ per strategy. Writes reports/bench-exec.md.
# Never part of make test (timings).
#
#   scripts/bench-exec.sh [quick|full] [BUILD_DIR]     (default full, build/none)
# quick: 3 seeds per cell, cap 300 schedules; full: 10 seeds, cap 1,000.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full}
case $mode in quick | full) ;; *) echo "bench-exec.sh: unknown mode '$mode' (quick or full)" >&2; exit 2 ;; esac
dir=${2:-build/none}
bin=$(pwd)/$dir/racerepro
harness=$(pwd)/$dir/racerepro-test
for b in "$bin" "$harness" "$(pwd)/$dir/libracerepro-rt.so"; do
	[ -x "$b" ] || [ -f "$b" ] || { echo "bench-exec.sh: $b missing: run make first" >&2; exit 3; }
done
if [ "$mode" = quick ]; then seeds=3 cap=300 rate_its=200; else seeds=10 cap=1000 rate_its=500; fi
tmp=$(mktemp -d /tmp/racerepro-bench-exec-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -g -rdynamic -pthread tests/programs/bench_points.c -o "$tmp/bp"
"$bin" cc -O2 -g tests/programs/bench_points.c -o "$tmp/bp_cc"
gcc -O1 -g -rdynamic -pthread -DFIXED tests/programs/abba.c -o "$tmp/abba_fixed"

ns() { sed -n 's/^ns_per_op //p' "$1"; }
# ns per operation of PROG ITER MODE THREADS under STRATEGY (native: "-"),
# timed inside the program so that fork, exec and the preload stay out.
measure() {
	local strategy=$1 prog=$2 iter=$3 pmode=$4 threads=$5 out="$tmp/out"
	rm -f "$out"
	if [ "$strategy" = - ]; then
		"$prog" "$out" "$iter" "$pmode" "$threads"
	else
		"$bin" exec --strategy "$strategy" --seed 1 --iterations 1 --quiet --out "$tmp/r" \
			-- "$prog" "$out" "$iter" "$pmode" "$threads" >/dev/null 2>&1 || true
		rm -rf "$tmp/r"
	fi
	[ -f "$out" ] && ns "$out" || echo "n/a"
}
# The same lock loop as a scenario: ns per pair under STRATEGY.
measure_harness() {
	local strategy=$1 iter=$2 threads=$3 out="$tmp/out"
	rm -f "$out"
	"$harness" run test_points --strategy "$strategy" --seed 1 --iterations 1 --quiet \
		--out "$tmp/r" --param threads="$threads" --param iters="$iter" --param out="$out" \
		>/dev/null 2>&1 || true
	rm -rf "$tmp/r"
	[ -f "$out" ] && ns "$out" || echo "n/a"
}

# The bug programs as tests/test_exec.c builds them (build_program);
# shutdown_uaf needs ASan for an oracle.
. scripts/exec-programs.sh
# "first-failure-iteration seconds" of one run (cap+1 when none failed).
first_failure() { # PROG STRATEGY SEED
	local start end rc=0
	start=$(date +%s.%N)
	(cd "$tmp" && "$bin" exec --quiet --strategy "$2" --seed "$3" --iterations "$cap" \
		--stop-on-failure --out "$tmp/ff" -- "$1") >/dev/null 2>&1 || rc=$?
	end=$(date +%s.%N)
	python3 - "$tmp/ff/summary.json" "$rc" "$cap" "$start" "$end" <<'EOF'
import json, sys
path, rc, cap, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
it = cap + 1
try:
    sigs = json.load(open(path))["cells"][0]["signatures"]
    if rc == 1 and sigs:
        it = min(s["first_iteration"] for s in sigs)
except Exception:
    pass
print(it, round(end - start, 3))
EOF
	rm -rf "$tmp/ff"
}
median() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print("%g" % round(statistics.median(v), 3))' "$@"; }

{
	echo "# exec mode benchmark ($mode)"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load at start $(cut -d' ' -f1-3 /proc/loadavg); command: scripts/bench-exec.sh $mode $dir"
	echo
	echo "## Cost per scheduling point (ns per operation, timed inside the loop)"
	echo
	echo "| measurement | native | harness none | harness pct | harness random | exec none | exec pct | exec random |"
	echo "|---|---|---|---|---|---|---|---|"
	for threads in 2 16 64; do
		echo "| mutex lock+unlock, $threads threads, per pair | $(measure - "$tmp/bp" 200000 0 $threads) |" \
			"$(measure_harness none 20000 $threads) | $(measure_harness pct 20000 $threads) |" \
			"$(measure_harness random 2000 $threads) |" \
			"$(measure none "$tmp/bp" 20000 0 $threads) | $(measure pct "$tmp/bp" 20000 0 $threads) |" \
			"$(measure random "$tmp/bp" 2000 0 $threads) |"
	done
	echo "| load of a global (racerepro cc), 2 threads, per load | $(measure - "$tmp/bp_cc" 2000000 1 2) | - | - | - |" \
		"$(measure none "$tmp/bp_cc" 200000 1 2) | $(measure pct "$tmp/bp_cc" 200000 1 2) |" \
		"$(measure random "$tmp/bp_cc" 20000 1 2) |"
	echo
	echo "A pair is two points. harness: the same loop as the test-only scenario test_points"
	echo "(rr_mutex_lock/unlock). pct mostly keeps the current thread (points that do not switch);"
	echo "random switches at about half the points (a futex hand-off to one thread's own word)."
	echo
	echo "## Exec iterations per second (abba twin, 2 threads, $rate_its iterations, fork+exec+preload included)"
	echo
	echo "| run | iterations/s |"
	echo "|---|---|"
	for strategy in none pct; do
		start=$(date +%s.%N)
		"$bin" exec --variant fixed --strategy "$strategy" --seed 1 --iterations "$rate_its" --quiet \
			--out "$tmp/r" -- "$tmp/abba_fixed" >/dev/null 2>&1 || true
		end=$(date +%s.%N)
		rm -rf "$tmp/r"
		echo "| exec --strategy $strategy | $(echo "$rate_its / ($end - $start)" | bc -l | xargs printf '%.0f') |"
	done
	start=$(date +%s.%N)
	for _ in $(seq "$rate_its"); do "$tmp/abba_fixed" >/dev/null; done
	end=$(date +%s.%N)
	echo "| native fork+exec in a shell loop | $(echo "$rate_its / ($end - $start)" | bc -l | xargs printf '%.0f') |"
	echo
	echo "## Schedules to the first failure, per strategy ($seeds seeds each, cap $cap; median schedules / median seconds, hits)"
	echo
	echo "Command per cell: racerepro exec --strategy S --seed K --iterations $cap --stop-on-failure -- PROG, K = 1..$seeds."
	echo "A seed that reached the cap counts as $((cap + 1)); a median above the cap is written \"> $cap\"."
	echo
	strategies=(none random pct surw pos portfolio greybox)
	printf '| program |'; printf ' %s |' "${strategies[@]}"; echo
	printf '|---|'; printf -- '---|%.0s' "${strategies[@]}"; echo
	for p in abba lost_wakeup lost_update publish static_local shutdown_uaf free_window cond_compat; do
		san=
		[ "$p" != shutdown_uaf ] || san=-fsanitize=address
		build_program "$p" "$san" "$tmp/$p" "$(bug_flag "$p")"
		row="| $p |"
		[ "$p" != shutdown_uaf ] || row="| $p (ASan) |"
		for s in "${strategies[@]}"; do
			its=() secs=() hits=0
			for k in $(seq "$seeds"); do
				res=$(first_failure "$tmp/$p" "$s" "$k")
				it=${res% *} sec=${res#* }
				its+=("$it") secs+=("$sec")
				[ "$it" -le "$cap" ] && hits=$((hits + 1))
			done
			m=$(median "${its[@]}")
			ms=$(median "${secs[@]}")
			if python3 -c "import sys; sys.exit(0 if float('$m') > $cap else 1)"; then
				row="$row > $cap / ${ms} s, $hits/$seeds |"
			else
				row="$row $(printf '%g' "$m") / ${ms} s, $hits/$seeds |"
			fi
		done
		echo "$row"
	done
	echo
	echo "Finished $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$tmp/report.md"
mkdir -p reports
mv -f "$tmp/report.md" reports/bench-exec.md
cat reports/bench-exec.md
