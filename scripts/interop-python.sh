#!/usr/bin/env bash
# Proves both directions against peers no one here wrote, from the Python package index:
# shm-rpc-bridge 0.2.4 (SharedMemoryTransportPosix) and pyzmq (REQ/REP).
#  1. their clients against our servers (--server), every echo compared byte for byte;
#  2. our driver with --connect against their echo servers (tests/python/srb_echo_server.py,
#     tests/python/zmq_peer.py), every echo verified (--verify-all), with two runs per case so
#     that each run reconnects.
# Sizes: 0 B (their clients only: the driver's sizes start at 1 byte), 1 B, 100 B, 10 KB,
# 500 KB, 2 MB and the largest payload the buffer holds. Exits non-zero on any mismatch, and
# fails if anything is left in /dev/shm or the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

python=$(scripts/setup-python-compat.sh)
cargo build --release --quiet
bin=$PWD/target/release/transport-bench

buffer=2500000
largest=$((buffer - 4))
driver_sizes="1,100,10000,500000,2000000,$largest"
client_sizes="0,$driver_sizes"
channel_ours="interop_$$_ours"
channel_theirs="interop_$$_theirs"
work=$(mktemp -d "${TMPDIR:-/tmp}/interop-python.XXXXXX")
servers=()

stop_servers() {
  local pid
  for pid in "${servers[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  servers=()
}
trap 'stop_servers; rm -rf "$work"' EXIT

# Starts a server in the background, its output in $work/NAME.out, and waits for READY.
start_server() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  servers+=($!)
  for _ in $(seq 600); do
    grep -q READY "$work/$name.out" && return 0
    kill -0 "${servers[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "error: $name did not become ready" >&2
  cat "$work/$name.err" >&2
  exit 1
}

# Their client against one of our servers: every size echoed, or the script fails.
their_client() {
  local what=$1
  shift
  local out
  out=$("$python" "$@")
  local count
  count=$(grep -c '^echoed ' <<<"$out")
  if [[ $count -ne 7 ]]; then
    echo "error: $what: $count of 7 sizes echoed" >&2
    exit 1
  fi
  echo "ok: $what: sizes $client_sizes echoed"
}

# Our driver against one of their servers: every case ok, none skipped or failed.
our_driver() {
  local peer=$1
  local json="$work/report.json"
  "$bin" --connect "$peer" --sizes "$driver_sizes" --iterations 100 --warmup 10 --runs 2 \
    --verify-all --timeout 10s --export-json "$json" >"$work/driver.out"
  "$python" - "$json" "$peer" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
statuses = [(r["size_bytes"], r["status"]) for r in report["results"]]
bad = [s for s in statuses if s[1] != "ok"]
if len(statuses) != 6 or bad:
    sys.exit(f"error: --connect {sys.argv[2]}: {statuses}")
EOF
  echo "ok: transport-bench --connect $peer: sizes $driver_sizes, 2 runs each"
}

# 1. Their clients, our servers.
start_server our-shm "$bin" --server --transport shm-posix --channel "$channel_ours" \
  --buffer-size "$buffer"
their_client "shm-rpc-bridge client -> our shm-posix server" \
  tests/python/srb_peer.py client "$channel_ours" "$buffer" "$client_sizes"
start_server our-zmq "$bin" --server --transport zmq-ipc --endpoint "ipc://$work/ours.sock" \
  --buffer-size "$buffer"
their_client "pyzmq REQ client -> our zmq-ipc server" \
  tests/python/zmq_peer.py client "ipc://$work/ours.sock" "$client_sizes"
stop_servers

# 2. Our driver, their servers.
start_server their-shm "$python" tests/python/srb_echo_server.py "$channel_theirs" "$buffer"
our_driver "shm-posix:$channel_theirs"
start_server their-zmq "$python" tests/python/zmq_peer.py server "ipc://$work/theirs.sock"
our_driver "zmq-ipc:ipc://$work/theirs.sock"
stop_servers

leftovers=$(ls -1 /dev/shm | grep -E "srb_interop_$$_" || true)
if [[ -n $leftovers ]]; then
  echo "error: left in /dev/shm:" >&2
  echo "$leftovers" >&2
  exit 1
fi
echo "interop passed"
