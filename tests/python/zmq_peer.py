"""A pyzmq peer for scripts/interop-python.sh: a REQ client that checks every echo of our
zmq-ipc or zmq-tcp server, or a REP echo server that transport-bench --connect measures.

usage: zmq_peer.py client ENDPOINT SIZE[,SIZE...]
       zmq_peer.py server ENDPOINT      (serves until SIGTERM or SIGINT)
"""
import signal
import sys

import zmq


def payload(size: int) -> bytes:
    return bytes((i * 7 + size) % 256 for i in range(size))


def client(endpoint: str, sizes: list[int]) -> None:
    context = zmq.Context()
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 30_000)
    socket.connect(endpoint)
    try:
        for size in sizes:
            request = payload(size)
            socket.send(request)
            reply = socket.recv()
            if reply != request:
                sys.exit(f"echo of {size} bytes differs ({len(reply)} bytes came back)")
            print(f"echoed {size}", flush=True)
    finally:
        socket.close()
        context.term()


stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


def server(endpoint: str) -> None:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    context = zmq.Context()
    socket = context.socket(zmq.REP)
    socket.setsockopt(zmq.LINGER, 0)
    # Short receive waits only so that an idle server notices the signal.
    socket.setsockopt(zmq.RCVTIMEO, 200)
    socket.bind(endpoint)
    try:
        print("READY", flush=True)
        while not stopping:
            try:
                request = socket.recv(copy=False)
            except zmq.Again:
                continue
            socket.send(request, copy=False)
    finally:
        socket.close()
        context.term()


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2], [int(s) for s in sys.argv[3].split(",")])
    else:
        server(sys.argv[2])
