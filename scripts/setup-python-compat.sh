#!/usr/bin/env bash
# Installs the Python shm-rpc-bridge 0.2.4 (with posix-ipc) and pyzmq into .venv-compat, for the
# cross-language compatibility test (tests/python_compat.rs) and scripts/interop-python.sh.
# Prints the interpreter's path.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-compat
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv" >&2
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'shm-rpc-bridge==0.2.4' pyzmq >&2
"$venv/bin/python" -c 'import shm_rpc_bridge.transport.transport_posix, zmq' >&2
echo "$PWD/$venv/bin/python"
