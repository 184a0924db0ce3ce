# Sourced by scripts/exec-twins.sh and scripts/bench-exec.sh: how the bug
# programs of tests/programs/ are built, as tests/test_exec.c builds them.
# Needs $bin (build/<san>/racerepro). Sync-level programs with clang,
# memory-level ones through racerepro cc / c++, free_window through
# racerepro cc under a sanitizer (its free point is cc's __wrap_free).
build_program() { # NAME SAN_FLAG OUT VARIANT_FLAG
	local name=$1 san=$2 out=$3 flag=$4
	case $name in
	lost_update | publish) "$bin" cc -g -O1 $san $flag "tests/programs/$name.c" -o "$out" ;;
	static_local) "$bin" c++ -g -O1 $san $flag "tests/programs/$name.cc" -o "$out" ;;
	free_window) if [ -n "$san" ]; then "$bin" cc -g -O1 $san $flag "tests/programs/$name.c" -o "$out"
		else clang -g -O1 -rdynamic -pthread $flag "tests/programs/$name.c" -o "$out"; fi ;;
	*) clang -g -O1 -rdynamic -pthread $san $flag "tests/programs/$name.c" -o "$out" ;;
	esac
}
# The buggy build's flag (the twin's is -DFIXED).
bug_flag() { if [ "$1" = static_local ]; then echo -fno-threadsafe-statics; fi; }
