#!/usr/bin/env bash
# Time to first crash, with and without interleaving feedback, against the
# `random` strategy's time to first failure.
#
#   scripts/fuzz-measure.sh SCENARIO [TRIALS] [MAX_SECONDS] [ENGINES]
#
# ENGINES: a space-separated list of libfuzzer, afl, random (default: all
# three). Each fuzzer trial starts from an empty corpus plus the scenario's
# seeds minus its known-failure ones, with its own random seed (the trial
# number), and stops at the first crash or after MAX_SECONDS. A random trial
# is `racerepro run --strategy random --seed TRIAL --duration MAX_SECONDS`,
# read from summary.json's first_failure. Prints one line per trial and the
# medians (seconds and executions to the first crash, executions per
# second). Expects the targets built (make fuzz-targets) and BUILDROOT set
# like for make.
set -uo pipefail
scenario=${1:?usage: scripts/fuzz-measure.sh SCENARIO [TRIALS] [MAX_SECONDS] [ENGINES]}
trials=${2:-10}
max=${3:-300}
engines=${4:-libfuzzer afl random}
buildroot=${BUILDROOT:-build}
cd "$(dirname "$0")/.." || exit 3
root=$(cd "$buildroot" && pwd) || exit 3
variant=${VARIANT:-buggy}
work=$(mktemp -d "${TMPDIR:-/tmp}/racerepro-measure-XXXXXX") || exit 3
trap 'reap_scratch; rm -rf "$work"' EXIT
seeds=$work/seeds
mkdir -p "$seeds"
for f in corpus/"$scenario"/seeds/*; do
	case "$(basename "$f")" in known-failure*) continue ;; esac
	cp "$f" "$seeds/"
done
[ -n "$(ls -A "$seeds")" ] || printf '\0' >"$seeds/zero"
export RR_FUZZ_VARIANT=$variant
# Crashed fuzz processes leave their scratch directories (see scripts/fuzz.sh).
scratch_dirs() { ls -d /dev/shm/racerepro-[0-9]*-* /tmp/racerepro-[0-9]*-* 2>/dev/null | sort; }
scratch_dirs >"$work/scratch-before"
reap_scratch() {
	local d pid
	for d in $(scratch_dirs | comm -13 "$work/scratch-before" -); do
		pid=${d##*/racerepro-}
		pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null || rm -rf "$d"
	done
}

now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (!NR) { print "-"; exit } m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; print m }'; }

trial_libfuzzer() { # FEEDBACK TRIAL -> "found seconds execs"
	local d=$work/lf-$1-$2
	mkdir -p "$d/corpus"
	local t0 t1 rc
	t0=$(now)
	(cd "$d" && RR_FUZZ_FEEDBACK=$1 timeout -k 5 $((max + 60)) "$root/fuzz/libfuzzer/$scenario" \
		-seed="$2" -max_total_time="$max" -max_len=4000 -timeout=30 -artifact_prefix="$d/" \
		-print_final_stats=1 corpus "$seeds" >log 2>&1)
	rc=$?
	t1=$(now)
	local execs found=0
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -1)
	compgen -G "$d/crash-*" >/dev/null || compgen -G "$d/leak-*" >/dev/null ||
		compgen -G "$d/timeout-*" >/dev/null && found=1
	echo "$found $(echo "$t1 - $t0" | bc) ${execs:-0} rc=$rc"
	rm -rf "$d"
}

trial_afl() { # FEEDBACK TRIAL
	local d=$work/afl-$1-$2
	mkdir -p "$d"
	local t0 t1
	t0=$(now)
	RR_FUZZ_FEEDBACK=$1 AFL_BENCH_UNTIL_CRASH=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 \
		AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1 AFL_QUIET=1 \
		timeout -k 5 $((max + 60)) afl-fuzz -s "$2" -i "$seeds" -o "$d/out" -V "$max" -t 10000 \
		-m none -- "$root/fuzz/afl/$scenario" >"$d/log" 2>&1 </dev/null
	t1=$(now)
	local st=$d/out/default/fuzzer_stats execs found=0
	execs=$(sed -n 's/^execs_done *: *//p' "$st" 2>/dev/null)
	compgen -G "$d/out/default/crashes/id:*" >/dev/null && found=1
	echo "$found $(echo "$t1 - $t0" | bc) ${execs:-0}"
	rm -rf "$d"
}

trial_random() { # - TRIAL
	local d=$work/rnd-$2
	"$root/none/racerepro" run "$scenario" --variant "$variant" --strategy random --seed "$2" \
		--duration "${max}s" --out "$d" --quiet >/dev/null 2>&1
	python3 - "$d/summary.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["cells"][0]
f = c.get("first_failure")
if f:
    print(1, f["seconds"], f["iteration"] + 1, c["rate"])
else:
    print(0, c["elapsed_s"], c["iterations"], c["rate"])
EOF
	rm -rf "$d"
}

echo "# $scenario/$variant: $trials trials, at most ${max}s each ($(date -u +%FT%TZ))"
for engine in $engines; do
	# FEEDBACK_MODES="1" or "0" runs one half only (to use two cores); "2"
	# measures RR_FUZZ_FEEDBACK=2 (pairs keyed by the pair before them).
	if [ "$engine" = random ]; then modes=(-); else read -ra modes <<<"${FEEDBACK_MODES:-1 0}"; fi
	for fb in "${modes[@]}"; do
		label=$engine
		[ "$fb" = 1 ] && label="$engine feedback=on"
		[ "$fb" = 0 ] && label="$engine feedback=off"
		[ "$fb" = 2 ] && label="$engine feedback=pairs+history"
		: >"$work/res"
		for t in $(seq 1 "$trials"); do
			r=$("trial_$engine" "$fb" "$t")
			echo "  $label trial $t: found/seconds/execs: $r"
			echo "$r" >>"$work/res"
		done
		found=$(awk '$1 == 1' "$work/res" | wc -l)
		# Trials without a crash count as MAX_SECONDS (a lower bound).
		ms=$(awk '{ print $2 }' "$work/res" | median)
		me=$(awk '{ print $3 }' "$work/res" | median)
		# random reports its own rate; a fuzzer's includes its start-up.
		eps=$(awk '{ if (NF >= 4 && $4 ~ /^[0-9.]+$/) print $4; else if ($2 > 0) print $3 / $2 }' "$work/res" | median)
		printf '%s | %s | found %d/%d | median %.2f s | median %s execs | %.0f exec/s\n' \
			"$scenario" "$label" "$found" "$trials" "$ms" "$me" "$eps"
	done
done
