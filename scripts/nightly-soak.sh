#!/usr/bin/env bash
# The nightly soak: every scenario x {buggy, fixed} x the chosen sanitizer
# builds, strategy portfolio, inside a time budget; exits non-zero on any
# regression (a fixed variant that failed, a buggy variant that did not
# reproduce within its share of the budget).
#
#   scripts/nightly-soak.sh [--budget 8h] [--shard i/N] [--san none,asan,tsan]
#                           [--exec 'PROGRAM ARGS'...] [--no-scenarios]
#                           [--out DIR] [--list-cells | --dry-run]
#
# --budget D    wall-clock budget of this shard, builds included (90, 30s, 45m, 8h)
# --shard i/N   run only the cells k (counted from 0 over the whole matrix, in
#               the order builds, scenarios, variants) with k mod N = i-1, so
#               that shards 1/N .. N/N cover every cell exactly once
# --san LIST    builds, comma-separated, from none, asan, tsan, ubsan
#               (default none,asan,tsan); build/<san>/racerepro is made if missing
# --out DIR     report folder (default reports/nightly-<UTC time>-shard-i-of-N):
#               cells/<san>-<scenario>-<variant>/ per cell, and the merged
#               events.jsonl, summary.json, summary.md, junit.xml, summary.html
# --exec CMD    add your own program (racerepro exec) as a cell per build, expected
#               to pass (its "fixed" cell: a failure is a regression); repeatable.
#               The program is run as built: --san picks the racerepro build only
# --no-scenarios  only the --exec programs, not the built-in scenarios
# --list-cells  print this shard's cells ("k san scenario variant") and exit
#               (--dry-run is the same)
#
# Environment: RR_BUILDROOT (default build) is where the builds live; MAKE.
# Exit status: 0 no regression, 1 a regression or an interrupted cell,
# 2 bad arguments, 3 an environment error (a build failed, nothing ran).
set -euo pipefail

die_usage() {
	echo "nightly-soak.sh: $*" >&2
	exit 2
}
die_env() {
	echo "nightly-soak.sh: $*" >&2
	exit 3
}

# Seconds from a duration: 90, 30s, 45m, 8h (whole numbers).
to_seconds() {
	local v=$1
	case "$v" in
	'' | *[!0-9smh]* | [smh]*) return 1 ;;
	*[0-9]) echo "$v" ;;
	*s) [[ ${v%s} =~ ^[0-9]+$ ]] && echo "${v%s}" ;;
	*m) [[ ${v%m} =~ ^[0-9]+$ ]] && echo $((${v%m} * 60)) ;;
	*h) [[ ${v%h} =~ ^[0-9]+$ ]] && echo $((${v%h} * 3600)) ;;
	*) return 1 ;;
	esac
}

budget_arg=8h
shard_arg=1/1
san_arg=none,asan,tsan
out=
list_only=0
execs=()
with_scenarios=1
while [ $# -gt 0 ]; do
	case "$1" in
	--exec)
		[ $# -ge 2 ] && [ -n "$2" ] || die_usage "--exec needs a command line, e.g. --exec './my_test --fast'"
		execs+=("$2")
		shift 2
		;;
	--no-scenarios)
		with_scenarios=0
		shift
		;;
	--budget | --shard | --san | --out)
		[ $# -ge 2 ] || die_usage "$1 needs a value (see the comment at the top of $0)"
		case "$1" in
		--budget) budget_arg=$2 ;;
		--shard) shard_arg=$2 ;;
		--san) san_arg=$2 ;;
		--out) out=$2 ;;
		esac
		shift 2
		;;
	--list-cells | --dry-run)
		list_only=1
		shift
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die_usage "unknown argument '$1' (use --budget, --shard, --san, --exec, --no-scenarios, --out, --list-cells)" ;;
	esac
done

budget=$(to_seconds "$budget_arg") || die_usage "malformed --budget '$budget_arg' (use e.g. 90, 30s, 45m or 8h)"
[ "$budget" -gt 0 ] || die_usage "--budget '$budget_arg' must be more than zero"
[[ $shard_arg =~ ^([0-9]+)/([0-9]+)$ ]] || die_usage "malformed --shard '$shard_arg' (use i/N, such as 2/4)"
shard_i=$((10#${BASH_REMATCH[1]}))
shard_n=$((10#${BASH_REMATCH[2]}))
{ [ "$shard_n" -ge 1 ] && [ "$shard_i" -ge 1 ] && [ "$shard_i" -le "$shard_n" ]; } ||
	die_usage "--shard $shard_arg: need 1 <= i <= N"
IFS=, read -r -a sans <<<"$san_arg"
[ ${#sans[@]} -gt 0 ] || die_usage "--san needs at least one build"
declare -A seen_san=()
for s in "${sans[@]}"; do
	case "$s" in
	none | asan | tsan | ubsan) ;;
	*) die_usage "unknown build '$s' in --san (use none, asan, tsan, ubsan)" ;;
	esac
	[ -z "${seen_san[$s]:-}" ] || die_usage "build '$s' is listed twice in --san"
	seen_san[$s]=1
done

cd "$(dirname "$0")/.."
root=${RR_BUILDROOT:-build}
make_cmd=${MAKE:-make}
started=$(date +%s)
deadline=$((started + budget))

build_san() {
	local s=$1
	if [ ! -x "$root/$s/racerepro" ]; then
		echo "nightly-soak.sh: building $root/$s/racerepro" >&2
		"$make_cmd" --no-print-directory BUILDROOT="$root" SAN="$s" >&2 ||
			die_env "make SAN=$s failed; see the output above"
	fi
}

# The scenario list comes from the binary itself, so the matrix always
# matches what was built.
build_san "${sans[0]}"
scenarios=()
if [ "$with_scenarios" = 1 ]; then
	mapfile -t scenarios < <("$root/${sans[0]}/racerepro" list | grep -E '^[a-z0-9_]+$')
	[ ${#scenarios[@]} -gt 0 ] || die_env "racerepro list named no scenarios"
fi
[ ${#scenarios[@]} -gt 0 ] || [ ${#execs[@]} -gt 0 ] || die_usage "--no-scenarios needs at least one --exec"

# Exec targets hold spaces: a cell names them exec<i>, the index into execs.
cells=()
k=0
for s in "${sans[@]}"; do
	for sc in "${scenarios[@]}"; do
		for v in buggy fixed; do
			if [ $((k % shard_n + 1)) -eq "$shard_i" ]; then
				cells+=("$k $s $sc $v")
			fi
			k=$((k + 1))
		done
	done
	for i in "${!execs[@]}"; do
		if [ $((k % shard_n + 1)) -eq "$shard_i" ]; then
			cells+=("$k $s exec$i fixed")
		fi
		k=$((k + 1))
	done
done

if [ "$list_only" = 1 ]; then
	[ ${#cells[@]} -eq 0 ] || printf '%s\n' "${cells[@]}"
	exit 0
fi
if [ ${#cells[@]} -eq 0 ]; then
	echo "nightly-soak.sh: shard $shard_i/$shard_n has no cells (the matrix has $k); nothing to do" >&2
	exit 0
fi

[ -n "$out" ] || out="reports/nightly-$(date -u +%Y%m%d-%H%M%S)-shard-$shard_i-of-$shard_n"
mkdir -p "$out/cells" || die_env "cannot make $out/cells"

for s in "${sans[@]}"; do
	for c in "${cells[@]}"; do
		read -r _ cs _ _ <<<"$c"
		if [ "$cs" = "$s" ]; then
			build_san "$s"
			break
		fi
	done
done

echo "nightly-soak.sh: shard $shard_i/$shard_n: ${#cells[@]} of $k cells, budget ${budget}s, builds ${san_arg}, out $out" >&2
# Each cell gets an equal share of what is left, recomputed before each one,
# so that a cell that overran (a slow setup, a watchdog) is paid for by the
# rest rather than by the deadline. A few seconds stay back for the merge.
reserve=3
dirs=()
left=${#cells[@]}
interrupted=0
trap 'interrupted=1' INT TERM
for c in "${cells[@]}"; do
	read -r k s sc v <<<"$c"
	now=$(date +%s)
	share_ms=$(((deadline - reserve - now) * 1000 / left))
	if [ "$share_ms" -lt 1000 ]; then
		share_ms=1000
	fi
	name="$s-$sc-$v"
	dir="$out/cells/$name"
	rm -rf "$dir"
	echo "nightly-soak.sh: cell $k: $s $sc/$v for $((share_ms / 1000)).$(((share_ms % 1000) / 100))s" >&2
	# timeout: a cell may overrun its share by the watchdog's limits, never
	# by hours. The soak writes events.jsonl as it goes, so even a killed
	# cell is in the merged report (as interrupted).
	set +e
	target=$sc
	if [[ $sc =~ ^exec([0-9]+)$ ]]; then
		target="exec:${execs[${BASH_REMATCH[1]}]}"
	fi
	timeout --kill-after=30 $((share_ms / 1000 + 300)) \
		"$root/$s/racerepro" soak "$target" --variant "$v" --strategy portfolio \
		--duration "${share_ms}ms" --out "$dir" --quiet >"$out/cells/$name.log" 2>&1
	rc=$?
	set -e
	if [ "$rc" -ge 124 ] && [ "$rc" -ne 128 ]; then
		echo "nightly-soak.sh: cell $name ended with status $rc (see $out/cells/$name.log)" >&2
	fi
	[ -f "$dir/events.jsonl" ] && dirs+=("$dir")
	left=$((left - 1))
	[ "$interrupted" = 0 ] || break
done
trap - INT TERM

[ ${#dirs[@]} -gt 0 ] || die_env "no cell wrote a report; see $out/cells/*.log"
set +e
"$root/${sans[0]}/racerepro" report --merge "$out" "${dirs[@]}"
rc=$?
set -e
elapsed=$(($(date +%s) - started))
echo "nightly-soak.sh: ${#dirs[@]} cells in ${elapsed}s; report in $out (summary.html, junit.xml)" >&2
# The regressions, for the job log: summary.json read with a JSON parser.
python3 - "$out/summary.json" >&2 <<'EOF' || true
import json, sys
with open(sys.argv[1]) as f:
    s = json.load(f)
for c in s["cells"]:
    if c["verdict"] not in ("reproduced", "clean", "skipped"):
        build = c.get("env", {}).get("build", "?")
        print(f"nightly-soak.sh: REGRESSION {build} {c['scenario']}/{c['variant']}: {c['verdict']}"
              f" after {c['iterations']} iterations")
EOF
case "$rc" in
0) exit 0 ;;
1) exit 1 ;;
*) exit 3 ;;
esac
