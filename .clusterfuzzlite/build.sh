#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: one fuzz target per scenario, as
# fuzz/fuzz.mk builds them, but with the compiler, flags and engine that
# OSS-Fuzz hands in:
#   $CC $CFLAGS ... $LIB_FUZZING_ENGINE  ->  $OUT/fuzz_<scenario>, $OUT/fuzz_parsers
# A scenario target is fuzz/libfuzzer.c compiled with -DRR_FUZZ_SCENARIO=<name>
# and linked with the scenarios, their registry and an archive of the other
# harness/*.c (harness/main.c left out), from which the linker takes only
# what the target calls: the core of the Makefile's layers, as fuzz/fuzz.mk
# links librrcore.a. Its input is an `input` timing seed; crashes replay with
# `racerepro replay --scenario <name> CRASHFILE`.
#
# Run by hand (what tests/test_nightly.c does):
#   CC=clang CFLAGS=-fsanitize=address LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#     OUT=$(mktemp -d) SRC=/tmp .clusterfuzzlite/build.sh

# The source tree: next to this script in the repository, or $SRC/racerepro
# in the image (where this script is copied to $SRC/build.sh).
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/harness/include/racerepro.h" ]; then
	cd "$here"
elif [ -f "$SRC/racerepro/harness/include/racerepro.h" ]; then
	cd "$SRC/racerepro"
else
	echo "build.sh: cannot find the racerepro sources (next to this script or in \$SRC/racerepro)" >&2
	exit 1
fi
if [ ! -f fuzz/libfuzzer.c ]; then
	echo "build.sh: fuzz/libfuzzer.c is missing: no fuzz targets to build" >&2
	exit 1
fi

# The harness reads which sanitizer it runs under from RR_BUILD_*: with ASan,
# rr_alloc/rr_free are plain calloc/free so that ASan reports misuse itself.
san=${SANITIZER:-}
if [ -z "$san" ]; then
	case " $CFLAGS " in
	*-fsanitize=address*) san=address ;;
	*-fsanitize=thread*) san=thread ;;
	*-fsanitize=undefined*) san=undefined ;;
	*) san=none ;;
	esac
fi
case "$san" in
address) rr_flags=(-DRR_BUILD_ASAN '-DRR_BUILD_NAME="asan"') ;;
thread) rr_flags=(-DRR_BUILD_TSAN '-DRR_BUILD_NAME="tsan"') ;;
undefined) rr_flags=(-DRR_BUILD_UBSAN '-DRR_BUILD_NAME="ubsan"') ;;
*) rr_flags=('-DRR_BUILD_NAME="fuzz"') ;;
esac
# The project's own flags (the Makefile's, minus what only gcc knows).
own=(-std=gnu11 -pthread -g -fno-omit-frame-pointer -Wall -Wextra -Werror -Wshadow
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
	-Iharness/include -Iharness -Iscenarios "${rr_flags[@]}")
libs=(-luring -lssl -lcrypto -ljansson -lm -pthread)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# $CFLAGS is split on spaces on purpose: it is a list of flags.
# shellcheck disable=SC2086
compile() { # src obj [extra flags...]
	local src=$1 obj=$2
	shift 2
	mkdir -p "$(dirname "$obj")"
	$CC $CFLAGS "${own[@]}" "$@" -c "$src" -o "$obj"
}

# OSS-Fuzz links with $CXX (its engines are C++ libraries); by hand, $CC
# works with clang -fsanitize=fuzzer, which adds the C++ runtime itself. The
# link takes $CFLAGS only: the project's C flags mean nothing to a C++ driver.
CXX_OR_CC=${CXX:-$CC}

engine_src=()
for f in harness/*.c scenarios/*.c; do
	[ "$f" = harness/main.c ] || engine_src+=("$f")
done
mapfile -t scenarios < <(sed -n 's/^RR_SCENARIO(\([a-z0-9_]*\))$/\1/p' scenarios/scenarios.def)
[ ${#scenarios[@]} -gt 0 ] || {
	echo "build.sh: scenarios/scenarios.def names no scenario" >&2
	exit 1
}

# Compile in parallel: one job per CPU, and stop at the first error.
jobs=$(nproc 2>/dev/null || echo 2)
pids=()
fail=0
run_job() {
	"$@" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$jobs" ]; then
		wait "${pids[0]}" || fail=1
		pids=("${pids[@]:1}")
	fi
}
for f in "${engine_src[@]}"; do
	run_job compile "$f" "$work/obj/${f%.c}.o"
done
for sc in "${scenarios[@]}"; do
	run_job compile fuzz/libfuzzer.c "$work/obj/target-$sc.o" "-DRR_FUZZ_SCENARIO=$sc"
done
for p in "${pids[@]}"; do
	wait "$p" || fail=1
done
[ "$fail" = 0 ] || {
	echo "build.sh: compiling failed (see above)" >&2
	exit 1
}

engine_obj=() lib_obj=()
for f in "${engine_src[@]}"; do
	case "$f" in
	scenarios/* | harness/registry.c) engine_obj+=("$work/obj/${f%.c}.o") ;;
	*) lib_obj+=("$work/obj/${f%.c}.o") ;;
	esac
done
ar rcs "$work/librr.a" "${lib_obj[@]}"
# shellcheck disable=SC2086
for sc in "${scenarios[@]}"; do
	$CXX_OR_CC $CFLAGS -o "$OUT/fuzz_$sc" "$work/obj/target-$sc.o" \
		"${engine_obj[@]}" "$work/librr.a" $LIB_FUZZING_ENGINE "${libs[@]}"
	# Seeds and saved reproducers' schedules, where the repository has them.
	if [ -d "corpus/$sc/seeds" ] && command -v zip >/dev/null; then
		(cd "corpus/$sc/seeds" && zip -q -r "$OUT/fuzz_${sc}_seed_corpus.zip" .)
	fi
done

if [ -f fuzz/parsers.c ]; then
	compile fuzz/parsers.c "$work/obj/parsers.o"
	# shellcheck disable=SC2086
	$CXX_OR_CC $CFLAGS -o "$OUT/fuzz_parsers" "$work/obj/parsers.o" \
		"${engine_obj[@]}" "$work/librr.a" $LIB_FUZZING_ENGINE "${libs[@]}"
fi
echo "build.sh: built ${#scenarios[@]} scenario targets$([ -f fuzz/parsers.c ] && echo ' and fuzz_parsers') in $OUT" >&2
