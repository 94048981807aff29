#!/bin/bash
# syscalls-per-round-trip.sh TRANSPORT [ARGS...]: system calls per round trip of the release
# build, by call, both processes (strace -f -c): the difference between a run of 12,000 round
# trips and one of 2,000, divided by 10,000, so that start-up and teardown cancel out. ARGS go
# to both runs (e.g. --warmup 0, --pin same, --pattern stream); --sizes defaults to 100 and may
# be given once in ARGS instead. Needs strace. Prints calls above 0.01 per round trip, then the
# total. docs/transports.md gives every transport's count.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 TRANSPORT [ARGS...]" >&2; exit 2; }
command -v strace >/dev/null || { echo "$0: strace is not installed (Debian: apt install strace)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
tool="$root/target/release/transport-bench"
[[ -x $tool ]] || { echo "$0: build first: cargo build --release" >&2; exit 2; }
transport=$1
shift
sizes=(--sizes 100)
for arg in "$@"; do [[ $arg == --sizes ]] && sizes=(); done
work=$(mktemp -d "${TMPDIR:-/tmp}/tb-syscalls.XXXXXX")
trap 'rm -rf "$work"' EXIT
for n in 2000 12000; do
    strace -f -c -o "$work/$n" "$tool" --transports "$transport" "${sizes[@]}" --iterations "$n" "$@" \
        >/dev/null 2>&1 || { echo "$0: the run of $n failed" >&2; exit 1; }
done
calls() { awk 'NF >= 5 && $1 ~ /^[0-9.]+$/ && $NF != "total" { print $NF, $4 }' "$1" | sort; }
join -a 2 -e 0 -o 0,1.2,2.2 <(calls "$work/2000") <(calls "$work/12000") |
    awk '{ d = ($3 - $2) / 10000; if (d > 0.01) { printf "%-16s %.2f\n", $1, d; s += d } }
         END { printf "%-16s %.2f\n", "total", s }'
