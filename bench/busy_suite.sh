#!/usr/bin/env bash
# Run `make test` beside four CPU-bound loops (on this kit's 2-core test machine: three times
# more runnable work than cores besides the suite's own), to show that the suite does not
# depend on the machine being idle. The loops are stopped when the suite ends, however it
# ends. Prints the suite's exit status and its wall time; exits with the suite's status.
#
#     bench/busy_suite.sh            # from the repository root; extra arguments go to make
set -uo pipefail
cd "$(dirname "$0")/.."

loops=()
stop_loops() {
    for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null; done
    wait "${loops[@]}" 2>/dev/null
}
trap stop_loops EXIT

for _ in 1 2 3 4; do
    ( while :; do :; done ) &
    loops+=("$!")
done
echo "busy_suite: 4 busy loops running (pids ${loops[*]}); load average $(cut -d' ' -f1-3 /proc/loadavg)"

started=$(date +%s)
make test "$@"
status=$?
seconds=$(( $(date +%s) - started ))
echo "busy_suite: make test exited $status after ${seconds} s beside 4 busy loops" \
     "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
exit "$status"
