#!/usr/bin/env bash
# Installs, idempotently, what racerepro needs from Debian's archive.
#   scripts/install-deps.sh [--check] [GROUP...]
# Groups: build (libraries and headers the binary links), test (cmocka, xmllint,
# python3-yaml, chromium for the HTML report test), fuzz (clang, afl++,
# libFuzzer's runtime), tools (gdb, for crash backtraces), all (default).
# --check only reports: exit 0 when everything is present, 1 otherwise.
# Not running as root, it prints the exact apt-get line instead of running it.
set -euo pipefail

check_only=0
groups=()
for arg in "$@"; do
	case "$arg" in
	--check) check_only=1 ;;
	build | test | fuzz | tools | all) groups+=("$arg") ;;
	*)
		echo "install-deps.sh: unknown argument '$arg' (use --check and groups build, test, fuzz, tools, all)" >&2
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

present() {
	local probe=$1
	case "$probe" in
	*.h) echo '#include <'"$probe"'>' | ${CC:-cc} -E -x c - >/dev/null 2>&1 ;;
	python3-yaml) python3 -c 'import yaml' >/dev/null 2>&1 ;;
	libclang-rt) ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ;;
	*) command -v "$probe" >/dev/null 2>&1 ;;
	esac
}

missing=()
for g in "${groups[@]}"; do
	if [ "$g" = all ]; then set -- build test fuzz tools; else set -- "$g"; fi
	for gg in "$@"; do
		for pair in ${probes[$gg]}; do
			present "${pair#*:}" || missing+=("${pair%%:*}")
		done
	done
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$check_only" = 1 ]; then
	echo "install-deps.sh: missing: ${missing[*]}" >&2
	exit 1
fi
line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "racerepro needs: ${missing[*]}. Run as root: $line" >&2
	exit 3
fi
echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
