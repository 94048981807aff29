#!/bin/sh
# run.sh [same|split|unpinned] [-v]: builds the four plain-C one-way stream baselines into a
# temporary directory and runs each at two sizes, one result line per case.
#
#   placement  same: both processes on CPU 0; split (default): client on CPU 0, server on
#              CPU 1; unpinned: the scheduler chooses.
#   -v         the server checks every byte of every message (the default: length and
#              sequence number of each, every byte of the END).
#   SMALL_COUNT, LARGE_COUNT  messages per run at 100 B (default 200000) and at the large
#              size (10000 B, 4000 B for the spin ring; default 50000).
#   CC         the compiler (default cc).
set -eu

placement=${1:-split}
[ $# -gt 0 ] && shift
case $placement in
same | split) pin="-p $placement" ;;
unpinned) pin="" ;;
*)
    echo "usage: $0 [same|split|unpinned] [-v]" >&2
    exit 2
    ;;
esac
small=${SMALL_COUNT:-200000}
large=${LARGE_COUNT:-50000}
here=$(cd "$(dirname "$0")" && pwd)

build=$(mktemp -d "${TMPDIR:-/tmp}/tb-baselines.XXXXXX")
trap 'rm -rf "$build"' EXIT
trap 'exit 130' INT TERM # runs the EXIT trap too

for mech in socketpair pipe shm_sem spin_ring; do
    "${CC:-cc}" -O2 -Wall -Wextra -pthread -o "$build/stream_$mech" "$here/stream_$mech.c"
done

echo "# placement: $placement"
echo "# mechanism size messages seconds msgs_per_s MB_per_s client_cpu_us_per_msg server_cpu_us_per_msg"
for mech in socketpair pipe shm_sem spin_ring; do
    large_size=10000
    [ "$mech" = spin_ring ] && large_size=4000 # its slots carry at most 4092 bytes
    for size in 100 "$large_size"; do
        count=$large
        [ "$size" = 100 ] && count=$small
        # shellcheck disable=SC2086 # $pin is zero or two words
        "$build/stream_$mech" "$size" "$count" $pin "$@"
    done
done

# Every named object is unlinked as soon as it is created; make sure of it.
if ls /dev/shm 2>/dev/null | grep -q '^\(sem\.\)\{0,1\}tb-baseline-'; then
    echo "$0: objects left in /dev/shm:" >&2
    ls /dev/shm | grep '^\(sem\.\)\{0,1\}tb-baseline-' >&2
    exit 1
fi
