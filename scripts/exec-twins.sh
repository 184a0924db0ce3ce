#!/usr/bin/env bash
# Issue 10's must-show over the bug programs in tests/programs/, in the plain,
# ASan and TSan builds of each program: the long version of what make test
# checks with small bounds. Writes reports/exec-twins.md.
#  - bugs: `exec --strategy pct --seed 7 --iterations 1000 --stop-on-failure`
#    on the buggy program gives the schedule of the first failure and its
#    signature; then `replay --check 100` of the saved reproducer.
#  - twins: the correct twin (-DFIXED) under `exec --variant fixed`,
#    --iterations schedules each (default 10,000).
#
#   scripts/exec-twins.sh [--iterations N] [--builds none,asan,tsan]
#                         [--programs abba,...] [--strategy S] [--seed K]
#                         [--no-bugs] [--no-twins]
# Exit 0 when every bug was found and replayed identically and every twin
# stayed clean, 1 otherwise, 2 on usage, 3 when racerepro or clang is missing.
set -euo pipefail
args="$*"
cd "$(dirname "$0")/.."
iterations=10000 builds=none,asan,tsan strategy=portfolio seed=101 bugs=1 twins=1
programs=abba,lost_wakeup,lost_update,publish,shutdown_uaf,static_local,free_window,cond_compat
while [ $# -gt 0 ]; do
	case $1 in
	--iterations) iterations=$2; shift 2 ;;
	--builds) builds=$2; shift 2 ;;
	--programs) programs=$2; shift 2 ;;
	--strategy) strategy=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--no-bugs) bugs=0; shift ;;
	--no-twins) twins=0; shift ;;
	*) echo "exec-twins.sh: unknown option '$1' (see the comment at the top of the script)" >&2; exit 2 ;;
	esac
done
bin=$(pwd)/build/none/racerepro
[ -x "$bin" ] || { echo "exec-twins.sh: $bin missing: run make first" >&2; exit 3; }
command -v clang >/dev/null || { echo "exec-twins.sh: clang missing: run scripts/install-deps.sh" >&2; exit 3; }
tmp=$(mktemp -d /tmp/racerepro-twins-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

. scripts/exec-programs.sh
san_flag() {
	case $1 in none) ;; asan) echo -fsanitize=address ;; tsan) echo -fsanitize=thread ;;
	*) echo "exec-twins.sh: unknown build '$1' (none, asan, tsan)" >&2; exit 2 ;; esac
}
# Fields of a summary.json cell, for the tables.
bug_fields() { # SUMMARY -> "first_iteration repro signature" (or "- - none")
	python3 -c '
import json, sys
try:
    s = json.load(open(sys.argv[1]))["cells"][0]["signatures"][0]
    print(s["first_iteration"], s["repro"], s["signature"].replace("|", "/")[:70])
except Exception:
    print("- - none")' "$1"
}
twin_fields() { # SUMMARY -> "iterations pass failures verdict note"
	python3 -c '
import json, sys
try:
    c = json.load(open(sys.argv[1]))["cells"][0]
except Exception:
    print("? ? ? missing -"); sys.exit()
o = c.get("outcomes", {})
nd = (c.get("env") or {}).get("nondeterministic") or "-"
fails = sum(v for k, v in o.items() if k not in ("pass", "error"))
print(c.get("iterations"), o.get("pass", 0), fails, c.get("verdict"), nd.replace("|", "/"))' "$1"
}

report=reports/exec-twins.md
mkdir -p reports
status=0
{
	echo "# exec mode's bug programs and their twins"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load at start $(cut -d' ' -f1-3 /proc/loadavg); command: scripts/exec-twins.sh $args"
	echo
} >"$tmp/report.md"
if [ "$bugs" = 1 ]; then
	{
		echo "## Bugs: exec --strategy pct --seed 7 --iterations 1000 --stop-on-failure, then replay --check 100"
		echo
		echo "| program | build | first failure (schedule) | signature | replay --check 100 |"
		echo "|---|---|---|---|---|"
	} >>"$tmp/report.md"
	for b in ${builds//,/ }; do
		san=$(san_flag "$b")
		for p in ${programs//,/ }; do
			# shutdown_uaf has no oracle without a sanitizer.
			[ "$p:$b" != shutdown_uaf:none ] || continue
			prog="$tmp/${p}_${b}_bug"
			build_program "$p" "$san" "$prog" "$(bug_flag "$p")"
			rc=0
			(cd "$tmp" && "$bin" exec --quiet --strategy pct --seed 7 --iterations 1000 \
				--stop-on-failure --out "$tmp/b-$p-$b" -- "$prog") >"$tmp/log" 2>&1 || rc=$?
			read -r at repro sig <<<"$(bug_fields "$tmp/b-$p-$b/summary.json")"
			check=-
			if [ "$rc" = 1 ] && [ "$repro" != - ]; then
				crc=0
				(cd "$tmp" && "$bin" replay --check 100 "$tmp/b-$p-$b/$repro") >"$tmp/clog" 2>&1 || crc=$?
				check=$(grep -o '[0-9]* of [0-9]* runs identical' "$tmp/clog" | head -1 || true)
				if [ "$crc" != 0 ] || [ "$check" != "100 of 100 runs identical" ]; then
					status=1
					check="${check:-failed} (exit $crc)"
					tail -3 "$tmp/clog" >&2
				fi
			else
				status=1
				tail -5 "$tmp/log" >&2
			fi
			echo "| $p | $b | $at | $sig | $check |" | tee -a "$tmp/report.md"
			rm -rf "$tmp/b-$p-$b"
		done
	done
	echo >>"$tmp/report.md"
fi
if [ "$twins" = 1 ]; then
	{
		echo "## Twins: exec --variant fixed --strategy $strategy --seed $seed --iterations $iterations --jobs 2"
		echo
		echo "| program | build | iterations | pass | failures | nondeterministic note | seconds | verdict |"
		echo "|---|---|---|---|---|---|---|---|"
	} >>"$tmp/report.md"
	for b in ${builds//,/ }; do
		san=$(san_flag "$b")
		for p in ${programs//,/ }; do
			prog="$tmp/${p}_$b"
			build_program "$p" "$san" "$prog" -DFIXED
			start=$(date +%s)
			rc=0
			(cd "$tmp" && "$bin" exec --quiet --variant fixed --strategy "$strategy" --seed "$seed" \
				--iterations "$iterations" --jobs 2 --out "$tmp/r-$p-$b" -- "$prog") >"$tmp/log" 2>&1 || rc=$?
			secs=$(($(date +%s) - start))
			read -r its pass fails verdict nd <<<"$(twin_fields "$tmp/r-$p-$b/summary.json")"
			[ "$rc" = 0 ] && [ "$verdict" = clean ] || status=1
			echo "| $p | $b | $its | $pass | $fails | $nd | $secs | $verdict (exit $rc) |" | tee -a "$tmp/report.md"
			[ "$rc" = 0 ] || tail -5 "$tmp/log" >&2
			rm -rf "$tmp/r-$p-$b"
		done
	done
	echo >>"$tmp/report.md"
fi
echo "Finished $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)." >>"$tmp/report.md"
mv -f "$tmp/report.md" "$report"
echo "wrote $report"
exit $status
