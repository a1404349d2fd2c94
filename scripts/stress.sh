#!/bin/sh
# `make test-stress`: the whole suite RUNS times in a row while BURNERS processes keep CPUs busy beside
# it, as on a loaded CI machine; stops at the first failing run. Usage: scripts/stress.sh RUNS BURNERS CMD...
set -u
runs=$1 burners=$2
shift 2
pids=""
i=0
while [ "$i" -lt "$burners" ]; do
	sh -c 'while :; do :; done' &
	pids="$pids $!"
	i=$((i + 1))
done
trap 'kill $pids 2>/dev/null' EXIT INT TERM
run=1
while [ "$run" -le "$runs" ]; do
	start=$(date +%s)
	if ! "$@"; then
		echo "test-stress: run $run of $runs failed (with $burners CPU burners)"
		exit 1
	fi
	echo "test-stress: run $run of $runs passed in $(($(date +%s) - start)) s (with $burners CPU burners)"
	run=$((run + 1))
done
