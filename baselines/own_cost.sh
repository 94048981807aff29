#!/bin/sh
# own_cost.sh [ROUNDS]: transport-bench's round trips against the same mechanism in plain C
# (docs/own-cost.md). Each mechanism and size runs alone, C and transport-bench in turn,
# ROUNDS times (default 3); the blocking mechanisms with both processes on CPU 0 (taskset -c
# 0: the stable same-CPU regime), the spinning one with a CPU each (--pin split, -p split).
# Prints every figure (mean round trip, µs) and, per case, the ratio of the means.
#
#   COUNT  round trips per run (default 50000; 200000 for the spin pair, 5000 at 500 KB and
#          2 MB)
#   CASES  which cases, as "mechanism:size ..." (default: all of them, listed below)
#
# It needs the release build (cargo build --release), whose libzmq it builds libzmq's own
# perf/local_lat and perf/remote_lat against (from the zeromq-src crate's sources that cargo
# fetched), so that both sides of the ZeroMQ comparison run the same libzmq.
set -eu

rounds=${1:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
tool="$root/target/release/transport-bench"
[ -x "$tool" ] || { echo "$0: build first: cargo build --release" >&2; exit 2; }

build=$(mktemp -d "${TMPDIR:-/tmp}/tb-own-cost.XXXXXX")
trap 'rm -rf "$build"' EXIT
trap 'exit 130' INT TERM

for mech in shm_sem unix spin; do
    "${CC:-cc}" -O2 -Wall -Wextra -pthread -o "$build/rt_$mech" "$here/rt_$mech.c"
done
libzmq=$(ls "$root"/target/release/build/zmq-sys-*/out/lib/libzmq.a | head -n 1)
zmq_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/zeromq-src-*/vendor | head -n 1)
for side in local_lat remote_lat; do
    "${CXX:-c++}" -O2 -I"$zmq_src/include" -o "$build/$side" "$zmq_src/perf/$side.cpp" \
        "$libzmq" -lpthread
done

# The mean round trip of one transport-bench run, in µs (the CSV export's mean_us), placed by
# $pin (a command prefix) and $pin_arg (the tool's own --pin).
ours() { # transport size count
    # shellcheck disable=SC2086 # $pin and $pin_arg are zero or more words
    $pin "$tool" --transports "$1" --sizes "$2" --iterations "$3" $pin_arg \
        --export-csv "$build/run.csv" >/dev/null 2>&1 || { echo "$0: $1 failed" >&2; exit 1; }
    awk -F, 'NR == 2 { print $8 }' "$build/run.csv"
}

# The mean round trip of one C run, in µs, placed as ours.
theirs() { # mechanism size count
    case $1 in
    zmq)
        endpoint="ipc://$build/lat"
        $pin "$build/local_lat" "$endpoint" "$2" "$3" >/dev/null &
        server=$!
        # remote_lat prints the one-way latency: half the round trip.
        $pin "$build/remote_lat" "$endpoint" "$2" "$3" | awk '/average latency/ { print 2 * $3 }'
        wait "$server"
        ;;
    spin) "$build/rt_spin" "$2" "$3" -p split | awk '{ print $4 }' ;;
    *) $pin "$build/rt_$1" "$2" "$3" | awk '{ print $4 }' ;;
    esac
}

one_case() { # mechanism size
    mech=$1 size=$2
    count=${COUNT:-50000}
    [ "$size" -ge 500000 ] && count=${COUNT:-5000}
    pin="taskset -c 0" pin_arg=""
    case $mech in
    shm_sem) transport=shm-posix ;;
    unix) transport=unix-stream ;;
    zmq) transport=zmq-ipc ;;
    spin) transport=shm-spin pin="" pin_arg="--pin split" count=${COUNT:-200000} ;;
    *) echo "$0: no case $mech" >&2; exit 2 ;;
    esac
    figures=""
    for round in $(seq "$rounds"); do
        c=$(theirs "$mech" "$size" "$count")
        o=$(ours "$transport" "$size" "$count")
        echo "$transport $size round $round: C $c µs, transport-bench $o µs"
        figures="$figures $c $o"
    done
    echo "$figures" | awk -v name="$transport $size" '{
        for (i = 1; i <= NF; i += 2) { c += $i; o += $(i + 1) }
        printf "%s: mean C %.3f µs, transport-bench %.3f µs, ratio of means %.3f\n", name, c / (NF / 2), o / (NF / 2), o / c
    }'
}

cases=${CASES:-"shm_sem:100 shm_sem:10000 shm_sem:500000 shm_sem:2000000 unix:100 unix:10000 zmq:100 zmq:10000 spin:100"}
for c in $cases; do
    one_case "${c%%:*}" "${c#*:}"
done
