#!/usr/bin/env bash
# Fuzzes one scenario's timing seed and turns every crash into a reproducer.
#
#   scripts/fuzz.sh SCENARIO ENGINE [DURATION] [JOBS]      (make fuzz SCENARIO=x ENGINE=y ...)
#
#   ENGINE    libfuzzer (clang, ASan), libfuzzer-tsan (clang, TSan: data-race
#             oracles; only scenarios listed in fuzz/fuzz.mk), or afl (AFL++,
#             ASan, persistent mode: one -M and JOBS-1 -S instances)
#   DURATION  60s, 5m, 1h or plain seconds (default 60s)
#   JOBS      fuzzer processes (default 1)
# Environment:
#   BUILDROOT       build folder (default build)
#   VARIANT         buggy (default; "both" and "" mean buggy), fixed, ...
#   RR_FUZZ_FEEDBACK=0   no interleaving feedback (for measurements)
#   RR_FUZZ_INPUT=bytes  version-1 decision bytes instead of abstract schedules
#   FUZZ_UNTIL_CRASH=1   AFL++, and libFuzzer with JOBS>1: stop at the first
#                   crash (libFuzzer with one job always does)
#   FUZZ_KNOWN=1    start the buggy variant from its known-failure seed too
#                   (by default it is left out there: it would crash at once)
#   FUZZ_OUT=DIR    where the run goes (default reports/fuzz-<scenario>-...)
#
# Output: DIR/fuzz.log, DIR/corpus/, DIR/crashes/ (raw crash inputs) and, per
# crash, DIR/failures/<n>/failure.repro (an `input` reproducer whose schedule
# is the crash's bytes, written by racerepro itself so that its signature is
# the harness's) with the `racerepro replay` line for it. Exit: 0 when the run
# completed (with or without findings; see the last line), 2 on bad input,
# 3 when the build or the fuzzer failed.
set -uo pipefail

die() { echo "fuzz.sh: $1" >&2; exit "${2:-2}"; }

scenario=${1:-}
engine=${2:-libfuzzer}
duration=${3:-60s}
jobs=${4:-1}
buildroot=${BUILDROOT:-build}
variant=${VARIANT:-buggy}
[ "$variant" = both ] && variant=buggy
cd "$(dirname "$0")/.." || die "cannot cd to the repository" 3

scenarios=$(sed -n 's/^RR_SCENARIO(\([a-z0-9_]*\))/\1/p' scenarios/scenarios.def)
one_line() { tr '\n' ' ' <<<"$1" | sed 's/ $//'; }
[ -n "$scenario" ] || die "SCENARIO is required (one of: $(one_line "$scenarios"))"
grep -qx "$scenario" <<<"$scenarios" || die "unknown scenario '$scenario' (one of: $(one_line "$scenarios"))"
case "$engine" in
libfuzzer | afl) san=asan ;;
libfuzzer-tsan)
	san=tsan
	grep -q "^FUZZ_TSAN_SCENARIOS :=.*\b$scenario\b" fuzz/fuzz.mk ||
		die "no libfuzzer-tsan target for $scenario (FUZZ_TSAN_SCENARIOS in fuzz/fuzz.mk)"
	;;
*) die "unknown engine '$engine' (use libfuzzer, libfuzzer-tsan or afl)" ;;
esac
case "$duration" in
*[!0-9smh]* | "" | [smh]*) die "bad DURATION '$duration' (use e.g. 90, 60s, 5m, 1h)" ;;
*h) secs=$((${duration%h} * 3600)) ;;
*m) secs=$((${duration%m} * 60)) ;;
*s) secs=${duration%s} ;;
*) secs=$duration ;;
esac
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
	die "bad DURATION '$duration' (use e.g. 90, 60s, 5m, 1h)"
fi
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "bad JOBS '$jobs' (a positive number)"

# ---- build ------------------------------------------------------------------
# The fuzz target, and the plain racerepro, which writes the reproducers (so
# that their signatures are the ones `racerepro replay` sees). A crash that only
# a sanitizer sees is written by the racerepro of the target's sanitizer build,
# built when first needed.
target=$buildroot/fuzz/$engine/$scenario
rr=$buildroot/none/racerepro
rr_san=$buildroot/$san/racerepro
make -s --no-print-directory BUILDROOT="$buildroot" "$target" >&2 || die "building $target failed" 3
make -s --no-print-directory BUILDROOT="$buildroot" SAN=none "$rr" >&2 || die "building $rr failed" 3
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
target=$(abspath "$target")
rr=$(abspath "$rr")
variants=$("$rr" list | sed 's/([^)]*)//g' |
	awk -v s="$scenario" '$1 == s { f = 1 } f && $1 == "variants:" { for (i = 2; i <= NF; i++) print $i; exit }')
grep -qx "$variant" <<<"$variants" || die "scenario $scenario has no variant '$variant' (it has: $(one_line "$variants"))"

# ---- the run folder ---------------------------------------------------------
stamp=$(date -u +%Y%m%d-%H%M%S)
out=${FUZZ_OUT:-reports/fuzz-$scenario-$variant-$engine-$stamp}
mkdir -p "$out/corpus" "$out/crashes" "$out/seeds" || die "cannot make $out" 3
out=$(cd "$out" && pwd)
# A fuzz process that crashes cannot remove its scratch directory
# (/dev/shm/racerepro-<pid>-*, harness/context.c); at the end, remove those
# that appeared during this run and whose process is gone.
scratch_dirs() { ls -d /dev/shm/racerepro-[0-9]*-* /tmp/racerepro-[0-9]*-* 2>/dev/null | sort; }
scratch_before=$(mktemp) || die "mktemp failed" 3
scratch_dirs >"$scratch_before"
# shellcheck disable=SC2317 # called from the EXIT trap
reap_scratch() {
	local d pid
	for d in $(scratch_dirs | comm -13 "$scratch_before" -); do
		pid=${d##*/racerepro-}
		pid=${pid%%-*}
		kill -0 "$pid" 2>/dev/null || rm -rf "$d"
	done
	rm -f "$scratch_before"
}
trap reap_scratch EXIT
for f in corpus/"$scenario"/seeds/*; do
	[ -f "$f" ] || continue
	case "$(basename "$f")" in
	known-failure*) [ "$variant" != buggy ] || [ "${FUZZ_KNOWN:-0}" = 1 ] || continue ;;
	esac
	cp "$f" "$out/seeds/"
done
# AFL++ needs one seed at least; the empty schedule is the default one.
[ -n "$(ls -A "$out/seeds")" ] || printf '\0' >"$out/seeds/zero"

export RR_FUZZ_VARIANT=$variant
echo "fuzz.sh: $scenario/$variant, $engine, ${secs}s, $jobs job(s), feedback ${RR_FUZZ_FEEDBACK:-1}: $out" >&2
log=$out/fuzz.log
start=$(date +%s)
case "$engine" in
libfuzzer*)
	# -max_len: a reproducer's schedule line must stay readable (seed.c reads
	# lines up to 12 KiB, three characters a byte).
	opts=(-max_total_time="$secs" -max_len=4000 -timeout=30 -artifact_prefix="$out/crashes/"
		-print_final_stats=1)
	# Byte mode (RR_FUZZ_INPUT=bytes) has no custom mutator: libFuzzer's
	# default -len_control keeps inputs short for thousands of executions,
	# and a short byte string is a non-preemptive schedule that cannot
	# fail. Abstract schedules are whole schedules at any length, and the
	# custom mutator sets their length; -len_control=0 costs them nothing.
	opts+=(-len_control=0)
	# One job: in this process, until the first crash (the setup runs once;
	# a finding is what a buggy run wants, and a fixed run must have none).
	# More: -fork=JOBS child processes that keep going after crashes.
	if [ "$jobs" -gt 1 ] && [ "${FUZZ_UNTIL_CRASH:-0}" != 1 ]; then
		opts+=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
	elif [ "$jobs" -gt 1 ]; then
		opts+=(-jobs="$jobs" -workers="$jobs")
	fi
	(cd "$out" && timeout -k 10 $((secs + 120)) "$target" "${opts[@]}" corpus seeds) >"$log" 2>&1
	rc=$?
	# 0: time is up; the crash codes: a finding was saved. Others: broken.
	case $rc in
	0 | 1 | 66 | 70 | 71 | 77) ;;
	*) echo "fuzz.sh: $target exited with $rc (see $log)" >&2 ;;
	esac
	;;
afl)
	export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
	export AFL_SKIP_CRASHES=1 AFL_QUIET=1
	# Abstract schedules: the structure-aware mutator, and no byte trimming
	# (it would cut overrides in half). Byte mode keeps AFL++'s own.
	if [ "${RR_FUZZ_INPUT:-abstract}" = abstract ]; then
		mutator=$buildroot/fuzz/afl/libschedule-mutator.so
		[ -f "$mutator" ] || die "$mutator is not built (make fuzz-afl)" 3
		export AFL_CUSTOM_MUTATOR_LIBRARY=$mutator AFL_DISABLE_TRIM=1
		# The scheduler repeats a schedule exactly: calibration runs
		# (three per new queue entry with AFL_FAST_CAL, none for the
		# seeds) can only confirm the first run, and the target answers
		# them without running the scenario (fuzz/README.md).
		export AFL_FAST_CAL=1 AFL_NO_STARTUP_CALIBRATION=1
	fi
	[ "${FUZZ_UNTIL_CRASH:-0}" = 1 ] && export AFL_BENCH_UNTIL_CRASH=1
	pids=()
	for i in $(seq 1 "$jobs"); do
		if [ "$i" = 1 ]; then role=(-M main); else role=(-S "sec$i"); fi
		afl-fuzz "${role[@]}" -i "$out/seeds" -o "$out/afl" -V "$secs" -t 10000 -m none \
			-- "$target" >"$out/afl-$i.log" 2>&1 </dev/null &
		pids+=($!)
	done
	rc=0
	for p in "${pids[@]}"; do wait "$p" || rc=$?; done
	cat "$out"/afl-*.log >"$log"
	# afl-fuzz refuses to start when every seed crashes (ftok_collision's
	# buggy variant fails under every schedule): those seeds are the crashes.
	if grep -q "at least one valid input seed that does not crash" "$log"; then
		for f in "$out"/seeds/*; do
			("$target" "$f") >/dev/null 2>&1 </dev/null || cp "$f" "$out/crashes/seed-$(basename "$f")"
		done
	fi
	if [ "$rc" != 0 ] && [ -z "$(ls "$out"/afl/*/crashes/id:* 2>/dev/null)" ]; then
		echo "fuzz.sh: afl-fuzz exited with $rc (see $out/afl-*.log)" >&2
	fi
	for f in "$out"/afl/*/crashes/id:* "$out"/afl/*/hangs/id:*; do
		[ -f "$f" ] || continue
		inst=$(basename "$(dirname "$(dirname "$f")")")
		cp "$f" "$out/crashes/$inst-$(basename "$(dirname "$f")")-$(basename "$f" | cut -d, -f1 | tr : -)"
	done
	;;
esac
elapsed=$(($(date +%s) - start))

# ---- crashes to reproducers ---------------------------------------------------
# Smallest first, so that failure 1 of a signature is its shortest schedule;
# at most FUZZ_MAX_REPROS of them (the rest stay under crashes/).
to_repro() { # CRASHFILE HEX RACEREPRO DIR: writes DIR/failure.repro if RACEREPRO fails on it
	local tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/racerepro-fuzz-repro-XXXXXX") || return 1
	local how=--schedule
	[ "${RR_FUZZ_INPUT:-abstract}" = bytes ] && how=--input
	"$3" run "$scenario" --variant "$variant" --strategy input "$how" "$2" --iterations 1 \
		--out "$tmp" >/dev/null 2>&1
	local repro
	repro=$(ls "$tmp"/failures/*/failure.repro 2>/dev/null | head -1)
	[ -n "$repro" ] && cp "$repro" "$4/failure.repro"
	rm -rf "$tmp"
	[ -n "$repro" ]
}
n=0
ncrash=$(ls "$out/crashes" | wc -l)
declare -A seen=()
max=${FUZZ_MAX_REPROS:-20}
while read -r crash; do
	[ -f "$crash" ] || continue
	[ "$n" -lt "$max" ] || break
	hex=$(od -An -v -tx1 "$crash" | tr -d ' \n')
	# The empty schedule and "00" decide the same (choice 0 = keep running).
	[ -n "$hex" ] || hex=00
	hex=${hex:0:8000}
	n=$((n + 1))
	dir=$out/failures/$n
	mkdir -p "$dir"
	cp "$crash" "$dir/input"
	replayer=$rr
	if ! to_repro "$crash" "$hex" "$rr" "$dir"; then
		if [ ! -x "$rr_san" ]; then
			make -s --no-print-directory BUILDROOT="$buildroot" SAN="$san" "$rr_san" >&2
		fi
		if [ -x "$rr_san" ] && to_repro "$crash" "$hex" "$(abspath "$rr_san")" "$dir"; then
			replayer=$(abspath "$rr_san")
		else
			# The fuzzer saw a crash that no racerepro worker does: keep
			# the input as a reproducer anyway, marked as such.
			{
				echo "racerepro-repro 1"
				echo "scenario $scenario"
				echo "variant $variant"
				echo "strategy input"
				echo "seed 0x0000000000000000"
				echo "schedule $(sed 's/../& /g; s/ $//' <<<"$hex")"
				echo "build $san"
				echo "signature not reproduced outside the fuzzer ($(basename "$crash"))"
				echo "found-by $engine"
			} >"$dir/failure.repro"
		fi
	fi
	sig=$(sed -n 's/^signature //p' "$dir/failure.repro")
	if [ -z "${seen[$sig]:-}" ]; then
		seen[$sig]=$n
		echo "failure $n: $sig"
		echo "  replay: $replayer replay --check 20 $dir/failure.repro"
	fi
done < <(ls -Sr "$out"/crashes/* 2>/dev/null)
if [ "$n" = 0 ]; then
	echo "fuzz.sh: $scenario/$variant ($engine): no crash in ${elapsed}s; log $log"
else
	echo "fuzz.sh: $scenario/$variant ($engine): $ncrash crash(es) in ${elapsed}s, ${#seen[@]} signature(s);" \
		"$n reproducer(s) under $out/failures/"
fi
exit 0
