#!/usr/bin/env bash
# Runs racerepro's test programs (cmocka) one after another and ends with the
# closing line CI reads: "N passed, N failed". A program that crashes or
# exits non-zero without reporting counts as one failure, never as nothing.
set -u
tally=$(mktemp)
trap 'rm -f "$tally"' EXIT
export RRT_TALLY=$tally
status=0
for prog in "$@"; do
	before=$(wc -l <"$tally")
	echo "== $prog"
	"$prog"
	rc=$?
	after=$(wc -l <"$tally")
	if [ "$rc" -ne 0 ]; then
		status=1
		if [ "$after" -eq "$before" ]; then
			echo "1 1 $prog (exited $rc before reporting)" >>"$tally"
		fi
	fi
done
passed=0
failed=0
while read -r n f _; do
	if [ "$f" -gt 0 ] 2>/dev/null; then
		failed=$((failed + f))
		passed=$((passed + n - f))
	else
		passed=$((passed + n))
	fi
done <"$tally"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
