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
#   TOOL   the transport-bench binary (default: this checkout's target/release one), to hold
#          an older build against the same tools in the same sitting
#   CFLAGS added to the C programs' build: -DVECTORED sends and receives every message of
#          rt_pipe.c and rt_unix.c with writev/readv of [header, payload], as the tool did
#          before it staged messages up to 4096 bytes (round_trip.h)
#
# The case split:SIZE splits SHM POSIX's cost between the tool's client and its server: per
# round, the C ping-pong (rt_shm_sem), the tool's client (--connect) against a C echo server
# with the library's names (echo_shm_sem), and the tool's client against its own standalone
# server (--server), all on CPU 0.
#
# The case spin_split:SIZE does the same for shm-spin, each side on a CPU of its own: per round,
# rt_spin timed as one region, rt_spin with a clock read around each round trip as the tool
# times (-DPER_RT_CLOCK), that and shm-spin's publish fence on both sides (-DFENCE), the tool's
# client (--connect) against a C echo server with the tool's segment (echo_spin), and the
# tool's client against its own standalone server; the client on CPU 0, the server on CPU 1.
#
# The case pyzmq:SIZE compares zmq-ipc with the seed's loop in pyzmq (rt_pyzmq.py), from the
# virtual environment that scripts/setup-python-compat.sh makes (.venv-compat).
#
# The case pipe:4 holds the pipe's round trip against `perf bench sched pipe` (Debian's
# linux-perf), which sends 4 bytes each way: both on CPU 0; pipe_free:4 leaves both unpinned
# (perf bench cannot pin its two processes apart). pipe_framed:SIZE holds it against
# rt_pipe.c, the same round trip in C with the tool's framing (SIZE at least 8), on CPU 0:
# perf bench against rt_pipe is what the framing costs, rt_pipe against the tool what its loop
# costs.
#
# The cases NAME_stream:SIZE and NAME_stream_same:SIZE (NAME: tcp, pipe, unix) hold a one-way
# stream (--pattern stream) against the classic tool for its mechanism: iperf3 with the same
# block size (-l SIZE, 3 s per run) for TCP, the plain-C loops stream_pipe.c and
# stream_socketpair.c (COUNT messages) for the others; NAME tcpn holds TCP against iperf3 -N
# (TCP_NODELAY, which the tool's tcp transport sets: without it Nagle's algorithm joins small
# writes into larger segments), and NAME tcpc against
# stream_socketpair.c built for a TCP connection on loopback (-DTCP_LOOPBACK), which reads as
# the tool reads, one message per read; the client on CPU 0 and the server on
# CPU 1, or both on CPU 0 (_same). Their ratio is of throughputs (MB/s, transport-bench over
# the other: higher is ours faster). The case wall:SIZE is the spinning round trip's
# bookkeeping: the timed loop's wall time per round trip over its mean round trip (shm-spin
# and shm-zc, --pin split); the case clock (no size) what one read of each clock a timed loop
# could use costs (clock_cost.c: CLOCK_MONOTONIC, and on x86-64 rdtsc, lfence;rdtsc, rdtscp).
# perf and iperf3 must be on the PATH for their cases, which say so when they are missing.
#
# It needs the release build (cargo build --release), whose libzmq it builds libzmq's own
# perf/local_lat and perf/remote_lat against (from the zeromq-src crate's sources that cargo
# fetched), so that both sides of the ZeroMQ comparison run the same libzmq.
set -eu

rounds=${1:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
tool=${TOOL:-"$root/target/release/transport-bench"}
[ -x "$tool" ] || { echo "$0: build first: cargo build --release (or TOOL=path)" >&2; exit 2; }

build=$(mktemp -d "${TMPDIR:-/tmp}/tb-own-cost.XXXXXX")
trap 'rm -rf "$build"' EXIT
trap 'exit 130' INT TERM

# Builds baselines/SOURCE.c into $build/NAME with the given defines, and CFLAGS.
build_c() { # name source [defines...]
    name=$1 source=$2
    shift 2
    # shellcheck disable=SC2086 # CFLAGS is words
    "${CC:-cc}" -O2 -Wall -Wextra -pthread ${CFLAGS:-} "$@" -o "$build/$name" "$here/$source.c"
}

for mech in shm_sem unix spin pipe; do
    build_c "rt_$mech" "rt_$mech"
done
for mech in pipe socketpair; do
    build_c "stream_$mech" "stream_$mech"
done
ln -s stream_socketpair "$build/stream_unix"
build_c stream_tcpc stream_socketpair -DTCP_LOOPBACK
build_c rt_spin_clock rt_spin -DPER_RT_CLOCK
build_c rt_spin_fence rt_spin -DPER_RT_CLOCK -DFENCE
build_c echo_spin echo_spin
build_c echo_shm_sem echo_shm_sem
build_c clock_cost clock_cost
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
    pipe | pipe_free)
        [ "$2" = 4 ] || { echo "$0: perf bench sched pipe sends 4 bytes: use $1:4" >&2; exit 2; }
        $pin perf bench sched pipe -l "$3" 2>&1 | awk '/usecs\/op/ { print $1 }'
        ;;
    pyzmq) $pin "$python" "$here/rt_pyzmq.py" "$2" "$3" | awk '{ print $4 }' ;;
    pipe_framed) $pin "$build/rt_pipe" "$2" "$3" | awk '{ print $4 }' ;;
    *) $pin "$build/rt_$1" "$2" "$3" | awk '{ print $4 }' ;;
    esac
}

# Starts an echo server (the command line given) on CPU echo_cpu, waits for its READY, runs the
# tool's client on CPU 0 against channel $channel of the transport, prints its mean round trip,
# and stops the server.
against() { # echo_cpu transport size count server-command...
    echo_cpu=$1 against_transport=$2 size=$3 count=$4
    shift 4
    rm -f "$build/ready"
    taskset -c "$echo_cpu" "$@" >"$build/ready" 2>/dev/null &
    server=$!
    # Runs in $(...), which has none of the script's traps: a server that spins must not
    # outlive a failure here (SIGTERM lets it unlink its objects).
    trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT
    trap 'exit 130' INT TERM
    until grep -q READY "$build/ready" 2>/dev/null; do
        kill -0 "$server" 2>/dev/null || { echo "$0: the echo server did not start" >&2; exit 1; }
        sleep 0.01
    done
    taskset -c 0 "$tool" --connect "$against_transport:$channel" --sizes "$size" --iterations "$count" \
        --export-csv "$build/run.csv" >/dev/null 2>&1 || { echo "$0: --connect failed" >&2; exit 1; }
    kill "$server"
    wait "$server" || true
    trap - EXIT
    awk -F, 'NR == 2 { print $8 }' "$build/run.csv"
}

split_case() { # size
    size=$1 count=${COUNT:-50000}
    [ "$size" -ge 500000 ] && count=${COUNT:-5000}
    all=""
    for round in $(seq "$rounds"); do
        channel="tb_split_$$_c$round"
        c=$(taskset -c 0 "$build/rt_shm_sem" "$size" "$count" | awk '{ print $4 }')
        cs=$(against 0 shm-posix "$size" "$count" "$build/echo_shm_sem" "$channel" 2500000)
        channel="tb_split_$$_r$round"
        os=$(against 0 shm-posix "$size" "$count" "$tool" --server --transport shm-posix \
            --channel "$channel" --buffer-size 2500000)
        echo "shm-posix $size round $round: C both sides $c µs, tool client + C server $cs µs, tool both sides $os µs"
        all="$all $c $cs $os"
    done
    echo "$all" | awk -v size="$size" '{
        for (i = 1; i <= NF; i += 3) { c += $i; cs += $(i + 1); os += $(i + 2) }
        n = NF / 3
        printf "shm-posix %s split: means C %.3f, tool client + C server %.3f (%.3f), tool both %.3f (%.3f) µs\n", size, c / n, cs / n, cs / c, os / n, os / c
    }'
}

spin_split_case() { # size
    size=$1 count=${COUNT:-200000}
    all=""
    for round in $(seq "$rounds"); do
        c=$("$build/rt_spin" "$size" "$count" -p split | awk '{ print $4 }')
        k=$("$build/rt_spin_clock" "$size" "$count" -p split | awk '{ print $4 }')
        f=$("$build/rt_spin_fence" "$size" "$count" -p split | awk '{ print $4 }')
        channel="tb_spin_split_$$_c$round"
        cs=$(against 1 shm-spin "$size" "$count" "$build/echo_spin" \
            "$channel" 2500000)
        channel="tb_spin_split_$$_r$round"
        os=$(against 1 shm-spin "$size" "$count" "$tool" --server \
            --transport shm-spin --channel "$channel" --buffer-size 2500000)
        echo "shm-spin $size round $round: C $c µs, C clock per round trip $k, and fences $f, tool client + C server $cs, tool both sides $os"
        all="$all $c $k $f $cs $os"
    done
    echo "$all" | awk -v size="$size" '{
        for (i = 1; i <= NF; i += 5) { c += $i; k += $(i + 1); f += $(i + 2); cs += $(i + 3); os += $(i + 4) }
        n = NF / 5
        printf "shm-spin %s split: means C %.3f, clock %.3f (%.3f), fences %.3f (%.3f), tool client + C server %.3f (%.3f), tool both %.3f (%.3f) µs\n", size, c / n, k / n, k / c, f / n, f / c, cs / n, cs / c, os / n, os / c
    }'
}

need() { # command
    command -v "$1" >/dev/null || { echo "$0: $1 is not installed (Debian: apt install $2)" >&2; exit 2; }
}

# One stream run of iperf3 (3 s) or of the plain-C loop for the mechanism (COUNT messages),
# placed as the case says: MB/s.
their_stream() { # mechanism size count client_cpu server_cpu
    case $1 in
    tcp | tcpn)
        nodelay=""
        [ "$1" = tcpn ] && nodelay=-N
        iperf3 -s -1 -p "$port" -A "$5" >/dev/null 2>&1 &
        server=$!
        sleep 0.3
        # shellcheck disable=SC2086 # $nodelay is zero or one word
        iperf3 -c 127.0.0.1 -p "$port" -l "$2" -t 3 -A "$4" $nodelay -J |
            awk -F'[:,]' '/"sum_received"/ { on = 1 } on && /"bits_per_second"/ { printf "%.1f\n", $2 / 8e6; exit }'
        wait "$server" || true
        ;;
    # stream_*.c pin themselves: -p split puts the client on CPU 0 and the server on CPU 1.
    *) "$build/stream_$1" "$2" "$3" -p "$placement" | awk '{ print $6 }' ;;
    esac
}

# A one-way stream of SIZE-byte messages (--pattern stream), in turn with the classic tool for
# its mechanism: iperf3 with the same block size (-l SIZE) for TCP, stream_pipe.c and
# stream_socketpair.c (one write per message, one readv per message) for the pipe and the Unix
# stream. The client on CPU 0, the server on CPU 1 (NAME_stream), or both on CPU 0
# (NAME_stream_same). The ratio is of throughputs (above 1: the tool moves more).
stream_case() { # case size
    case=$1 size=$2 port=$((20000 + $$ % 20000)) length=""
    mech=${case%%_stream*}
    case $case in
    *_same) client_cpu=0 server_cpu=0 placement=same ;;
    *) client_cpu=0 server_cpu=1 placement=split ;;
    esac
    case $mech in
    tcp) need iperf3 iperf3; transport=tcp label=iperf3 length="--duration 3s" count=0 ;;
    tcpn) need iperf3 iperf3; transport=tcp label="iperf3 -N" length="--duration 3s" count=0 ;;
    tcpc) transport=tcp label=C ;;
    pipe) transport=pipe label=C ;;
    unix) transport=unix-stream label=C ;;
    *) echo "$0: no stream case $case" >&2; exit 2 ;;
    esac
    if [ "$length" != "--duration 3s" ]; then
        count=${COUNT:-300000}
        [ "$size" -gt 1024 ] && count=${COUNT:-100000}
        [ "$size" -gt 10000 ] && count=${COUNT:-20000}
        length="--iterations $count"
    fi
    figures=""
    for round in $(seq "$rounds"); do
        c=$(their_stream "$mech" "$size" "$count" "$client_cpu" "$server_cpu")
        # shellcheck disable=SC2086 # $length is two words
        "$tool" --transports "$transport" --pattern stream --sizes "$size" $length \
            --pin "$placement" --export-csv "$build/run.csv" >/dev/null 2>&1 ||
            { echo "$0: $transport stream failed" >&2; exit 1; }
        o=$(awk -F, -v size="$size" 'NR == 2 { printf "%.1f\n", $6 * size / 1e6 }' "$build/run.csv")
        echo "$transport stream $size ($placement) round $round: $label $c MB/s, transport-bench $o MB/s"
        figures="$figures $c $o"
    done
    echo "$figures" | awk -v name="$transport stream $size ($placement)" -v label="$label" '{
        for (i = 1; i <= NF; i += 2) { c += $i; o += $(i + 1) }
        printf "%s: mean %s %.1f MB/s, transport-bench %.1f MB/s, ratio of throughputs %.3f\n", name, label, c / (NF / 2), o / (NF / 2), o / c
    }'
}

# The spinning round trip's bookkeeping: the timed loop's wall time per round trip
# (total_s / iterations in the CSV) over its mean round trip, for shm-spin and shm-zc, --pin
# split. docs/own-cost.md holds it to 1.10 (about 30 ns per iteration outside the region).
wall_case() { # size
    for round in $(seq "$rounds"); do
        for transport in shm-spin shm-zc; do
            "$tool" --transports "$transport" --sizes "$1" --iterations "${COUNT:-200000}" \
                --pin split --export-csv "$build/run.csv" >/dev/null 2>&1 ||
                { echo "$0: $transport failed" >&2; exit 1; }
            awk -F, -v name="$transport $1 round $round" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
                NR == 2 { wall = $col["total_s"] * 1e6 / $col["iterations"]; mean = $col["mean_us"]
                          printf "%s: mean %.3f µs, wall per round trip %.3f µs, ratio %.3f\n", name, mean, wall, wall / mean }' "$build/run.csv"
        done
    done
}

one_case() { # mechanism size
    mech=$1 size=$2
    count=${COUNT:-50000}
    [ "$size" -ge 500000 ] && count=${COUNT:-5000}
    pin="taskset -c 0" pin_arg="" label=C
    case $mech in
    shm_sem) transport=shm-posix ;;
    unix) transport=unix-stream ;;
    zmq) transport=zmq-ipc ;;
    pyzmq) transport=zmq-ipc label=pyzmq ;;
    spin) transport=shm-spin pin="" pin_arg="--pin split" count=${COUNT:-200000} ;;
    pipe) need perf linux-perf; transport=pipe label="perf bench" ;;
    pipe_free) need perf linux-perf; transport=pipe pin="" label="perf bench" ;;
    pipe_framed) transport=pipe ;;
    *) echo "$0: no case $mech" >&2; exit 2 ;;
    esac
    figures=""
    for round in $(seq "$rounds"); do
        c=$(theirs "$mech" "$size" "$count")
        o=$(ours "$transport" "$size" "$count")
        echo "$transport $size round $round: $label $c µs, transport-bench $o µs"
        figures="$figures $c $o"
    done
    echo "$figures" | awk -v name="$transport $size" -v label="$label" '{
        for (i = 1; i <= NF; i += 2) { c += $i; o += $(i + 1) }
        printf "%s: mean %s %.3f µs, transport-bench %.3f µs, ratio of means %.3f\n", name, label, c / (NF / 2), o / (NF / 2), o / c
    }'
}

case ${CASES:-} in
*pyzmq*) python=$("$root/scripts/setup-python-compat.sh") ;;
esac

cases=${CASES:-"shm_sem:100 shm_sem:10000 shm_sem:500000 shm_sem:2000000 unix:100 unix:10000 zmq:100 zmq:10000 spin:100 pipe:4 pipe_free:4 tcp_stream:1024 tcpn_stream:1024 tcpc_stream:1024 tcp_stream_same:1024 tcp_stream:131072"}
for c in $cases; do
    case ${c%%:*} in
    split) split_case "${c#*:}" ;;
    spin_split) spin_split_case "${c#*:}" ;;
    *_stream | *_stream_same) stream_case "${c%%:*}" "${c#*:}" ;;
    wall) wall_case "${c#*:}" ;;
    clock) "$build/clock_cost" ;;
    *) one_case "${c%%:*}" "${c#*:}" ;;
    esac
done
