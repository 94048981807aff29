"""rt_pyzmq.py SIZE COUNT: the seed's ZeroMQ round trip in pyzmq, the bar that transport-bench's
zmq-ipc must beat (docs/own-cost.md).

The loop is shm-rpc-bridge's transport benchmark's, as its README describes it: a REQ client
sends SIZE bytes and receives the echo from a REP server in another process, over ipc://, COUNT
times after a warm-up, with pyzmq's defaults (copy=True both ways); the mean is the total time
over COUNT. Each echo's length is checked (transport-bench checks more: the length and a
sequence number, so the comparison does not favour it).

Output, one line, as the C baselines: pyzmq SIZE COUNT MEAN_US. Run by own_cost.sh with the
interpreter of scripts/setup-python-compat.sh.
"""

import os
import subprocess
import sys
import tempfile
import time

import zmq

WARMUP = 1000


def serve(endpoint):
    """Echoes every request until killed."""
    context = zmq.Context()
    socket = context.socket(zmq.REP)
    socket.bind(endpoint)
    print("ready", flush=True)
    while True:
        socket.send(socket.recv())


def measure(size, count):
    with tempfile.TemporaryDirectory(prefix="tb-pyzmq.") as directory:
        endpoint = "ipc://" + os.path.join(directory, "echo.sock")
        server = subprocess.Popen(
            [sys.executable, __file__, "--server", endpoint],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            if server.stdout.readline().strip() != "ready":
                sys.exit("rt_pyzmq: the server did not start")
            context = zmq.Context()
            socket = context.socket(zmq.REQ)
            socket.connect(endpoint)
            data = os.urandom(size)
            for _ in range(WARMUP):
                socket.send(data)
                socket.recv()
            start = time.perf_counter()
            for i in range(count):
                socket.send(data)
                if len(socket.recv()) != size:
                    sys.exit(f"rt_pyzmq: round trip {i}: the echo's length differs")
            mean_us = (time.perf_counter() - start) / count * 1e6
            socket.close(linger=0)
            context.term()
        finally:
            server.kill()
            server.wait()
    print(f"pyzmq {size} {count} {mean_us:.3f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--server":
        serve(sys.argv[2])
    elif len(sys.argv) == 3:
        measure(int(sys.argv[1]), int(sys.argv[2]))
    else:
        sys.exit("usage: rt_pyzmq.py SIZE COUNT")
