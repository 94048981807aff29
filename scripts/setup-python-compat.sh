#!/usr/bin/env bash
# Installs the Python shm-rpc-bridge 0.2.4 (with posix-ipc), pyzmq and HdrHistogram's Python package
# (hdrhistogram, imported as hdrh) into .venv-compat, for the cross-language compatibility tests
# (tests/python_compat.rs, tests/hdr_python.rs) and scripts/interop-python.sh.
# Prints the interpreter's path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-compat
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'shm-rpc-bridge==0.2.4' pyzmq 'hdrhistogram==0.10.3' >&2
"$venv/bin/python" -c 'import shm_rpc_bridge.transport.transport_posix, zmq, hdrh.histogram' >&2
echo "$PWD/$venv/bin/python"
