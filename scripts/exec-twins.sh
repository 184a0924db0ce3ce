#!/usr/bin/env bash
# The correct twins of the bug programs in tests/programs/ (built with -DFIXED)
# under `racerepro exec --variant fixed`, many schedules each, in the plain,
# ASan and TSan builds of the program: issue 10's "each twin clean over 10,000
# schedules". make test runs the same twins for 20 to 100 schedules; this is
# the long version, too slow for make test. Writes reports/exec-twins.md.
#
#   scripts/exec-twins.sh [--iterations N] [--builds none,asan,tsan]
#                         [--programs abba,...] [--strategy S] [--seed K]
# Exit 0 when every twin stayed clean, 1 when one did not, 2 on usage, 3 when
# racerepro or clang is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=10000 builds=none,asan,tsan strategy=portfolio seed=101
programs=abba,lost_wakeup,lost_update,publish,shutdown_uaf,static_local,free_window,cond_compat
while [ $# -gt 0 ]; do
	case $1 in
	--iterations) iterations=$2; shift 2 ;;
	--builds) builds=$2; shift 2 ;;
	--programs) programs=$2; shift 2 ;;
	--strategy) strategy=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	*) echo "exec-twins.sh: unknown option '$1' (see the comment at the top of the script)" >&2; exit 2 ;;
	esac
done
bin=$(pwd)/build/none/racerepro
[ -x "$bin" ] || { echo "exec-twins.sh: $bin missing: run make first" >&2; exit 3; }
command -v clang >/dev/null || { echo "exec-twins.sh: clang missing: run scripts/install-deps.sh" >&2; exit 3; }
tmp=$(mktemp -d /tmp/racerepro-twins-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# How each program is built (as tests/test_exec.c does): sync-level programs
# with clang, memory-level ones through racerepro cc / c++, free_window
# through racerepro cc under a sanitizer (its free point is cc's __wrap_free).
build() { # NAME SAN_FLAG OUT
	local name=$1 san=$2 out=$3
	case $name in
	lost_update | publish) "$bin" cc -g -O1 $san -DFIXED "tests/programs/$name.c" -o "$out" ;;
	static_local) "$bin" c++ -g -O1 $san -DFIXED "tests/programs/$name.cc" -o "$out" ;;
	free_window) if [ -n "$san" ]; then "$bin" cc -g -O1 $san -DFIXED "tests/programs/$name.c" -o "$out"
		else clang -g -O1 -rdynamic -pthread -DFIXED "tests/programs/$name.c" -o "$out"; fi ;;
	*) clang -g -O1 -rdynamic -pthread $san -DFIXED "tests/programs/$name.c" -o "$out" ;;
	esac
}

report=reports/exec-twins.md
mkdir -p reports
status=0
{
	echo "# exec twins: --variant fixed --strategy $strategy --seed $seed --iterations $iterations --jobs 2"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "| program | build | iterations | pass | failures | nondeterministic note | seconds | verdict |"
	echo "|---|---|---|---|---|---|---|---|"
} >"$report.tmp"
for b in ${builds//,/ }; do
	case $b in none) san= ;; asan) san=-fsanitize=address ;; tsan) san=-fsanitize=thread ;;
	*) echo "exec-twins.sh: unknown build '$b' (none, asan, tsan)" >&2; exit 2 ;; esac
	for p in ${programs//,/ }; do
		prog="$tmp/${p}_$b"
		build "$p" "$san" "$prog"
		start=$(date +%s)
		rc=0
		(cd "$tmp" && "$bin" exec --quiet --variant fixed --strategy "$strategy" --seed "$seed" \
			--iterations "$iterations" --jobs 2 --out "$tmp/r-$p-$b" -- "$prog") >"$tmp/log" 2>&1 || rc=$?
		secs=$(($(date +%s) - start))
		read -r its pass fails verdict nd < <(python3 - "$tmp/r-$p-$b/summary.json" <<'EOF'
import json, sys
try:
    c = json.load(open(sys.argv[1]))["cells"][0]
except Exception:
    print("? ? ? missing -"); sys.exit()
o = c.get("outcomes", {})
nd = (c.get("env") or {}).get("nondeterministic") or "-"
fails = sum(v for k, v in o.items() if k not in ("pass", "error"))
print(c.get("iterations"), o.get("pass", 0), fails, c.get("verdict"), nd.replace("|", "/"))
EOF
)
		[ "$rc" = 0 ] && [ "$verdict" = clean ] || status=1
		echo "| $p | $b | $its | $pass | $fails | $nd | $secs | $verdict (exit $rc) |" | tee -a "$report.tmp"
		[ "$rc" = 0 ] || tail -5 "$tmp/log" >&2
		rm -rf "$tmp/r-$p-$b"
	done
done
echo >>"$report.tmp"
echo "Finished $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)." >>"$report.tmp"
mv -f "$report.tmp" "$report"
echo "wrote $report"
exit $status
