#!/usr/bin/env bash
# Installs, idempotently, what racerepro needs from Debian's archive.
#   scripts/install-deps.sh [--check | --list] [GROUP...]
# Groups: build (libraries and headers the binary links), test (cmocka, xmllint,
# python3-yaml, chromium for the HTML report test), fuzz (clang, afl++,
# libFuzzer's runtime), tools (gdb, for crash backtraces), all (default).
# --check only reports: exit 0 when everything is present, 1 otherwise.
# --list prints "GROUP PACKAGE" for every package of the groups, present or
# not (the README's dependency table is checked against it).
# Installing prints one line per step; apt's own output goes to the log,
# $RR_DEPS_LOG (default build/install-deps.log), whose tail is shown if a
# step fails. Not running as root, it prints the exact commands (with sudo)
# instead of running them, and exits 3.
set -euo pipefail

check_only=0
list_only=0
groups=()
for arg in "$@"; do
	case "$arg" in
	--check) check_only=1 ;;
	--list) list_only=1 ;;
	build | test | fuzz | tools | all) groups+=("$arg") ;;
	*)
		echo "install-deps.sh: unknown argument '$arg' (use --check, --list and groups build, test, fuzz, tools, all)" >&2
		exit 2
		;;
	esac
done
[ ${#groups[@]} -gt 0 ] || groups=(all)

# package:probe pairs. A probe is a header (contains .h), or a command name.
declare -A probes=(
	[build]="liburing-dev:liburing.h libssl-dev:openssl/ssl.h libjansson-dev:jansson.h"
	[test]="libcmocka-dev:cmocka.h libxml2-utils:xmllint python3-yaml:python3-yaml chromium:chromium"
	[fuzz]="clang:clang afl++:afl-clang-fast libclang-rt-14-dev:libclang-rt"
	[tools]="gdb:gdb"
)
# What each group is for, on its install step's line.
declare -A why=(
	[build]="the libraries racerepro links"
	[test]="make test: cmocka, xmllint, PyYAML, chromium for the HTML report"
	[fuzz]="the fuzz targets make test builds: clang, afl++, libFuzzer"
	[tools]="gdb, for crash backtraces"
)

present() {
	local probe=$1
	case "$probe" in
	*.h) echo '#include <'"$probe"'>' | ${CC:-cc} -E -x c - >/dev/null 2>&1 ;;
	python3-yaml) python3 -c 'import yaml' >/dev/null 2>&1 ;;
	libclang-rt) ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ;;
	*) command -v "$probe" >/dev/null 2>&1 ;;
	esac
}

expanded=()
for g in "${groups[@]}"; do
	if [ "$g" = all ]; then expanded+=(build test fuzz tools); else expanded+=("$g"); fi
done

if [ "$list_only" = 1 ]; then
	for g in "${expanded[@]}"; do
		for pair in ${probes[$g]}; do echo "$g ${pair%%:*}"; done
	done
	exit 0
fi

# The missing packages, per group, in the groups' order.
missing=()
declare -A missing_in=()
group_order=()
for g in "${expanded[@]}"; do
	[ -z "${missing_in[$g]+x}" ] || continue
	missing_in[$g]=""
	for pair in ${probes[$g]}; do
		if ! present "${pair#*:}"; then
			missing+=("${pair%%:*}")
			missing_in[$g]+="${missing_in[$g]:+ }${pair%%:*}"
		fi
	done
	[ -z "${missing_in[$g]}" ] || group_order+=("$g")
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$check_only" = 1 ]; then
	echo "install-deps.sh: missing: ${missing[*]}" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: racerepro needs ${missing[*]}; as a user with sudo, run:" \
		"sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 3
fi

root=$(cd "$(dirname "$0")/.." && pwd)
log=${RR_DEPS_LOG:-$root/build/install-deps.log}
mkdir -p "$(dirname "$log")"
(umask 077 && : >"$log")
export DEBIAN_FRONTEND=noninteractive

# Chromium, clang and afl++ pull in most of the archive's desktop and LLVM
# stacks: say so before the wait starts, not after.
big=0
for p in "${missing[@]}"; do
	case "$p" in chromium | clang | afl++ | libclang-rt-*) big=1 ;; esac
done
if [ "$big" = 1 ]; then
	echo "install-deps.sh: note: a first install of the test and fuzz tools downloads about 1 GiB" \
		"and takes about 5 minutes; apt's output goes to $log" >&2
fi

nsteps=$((1 + ${#group_order[@]}))
step=0
# run_step WHAT COMMAND...: one line saying what and how long; on failure the
# exact command and the log's tail, exit 3.
run_step() {
	local what=$1
	shift
	step=$((step + 1))
	local t0=$SECONDS
	echo "=== step $step/$nsteps: $what: $*" >>"$log"
	local rc=0
	"$@" >>"$log" 2>&1 </dev/null || rc=$?
	if [ "$rc" = 0 ]; then
		echo "install-deps.sh: [$step/$nsteps] $what ($((SECONDS - t0)) s)" >&2
		return 0
	fi
	echo "install-deps.sh: [$step/$nsteps] $what failed (exit $rc) after $((SECONDS - t0)) s;" \
		"the command was: $*; the end of $log:" >&2
	tail -n 20 "$log" | sed 's/^/    /' >&2
	exit 3
}

run_step "apt-get update: refreshing the package lists" apt-get update
for g in "${group_order[@]}"; do
	# shellcheck disable=SC2086 # one word per package
	run_step "installing ${missing_in[$g]} (${why[$g]})" \
		apt-get install -y --no-install-recommends ${missing_in[$g]}
done
