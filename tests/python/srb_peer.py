"""A shm-rpc-bridge 0.2.4 peer for the compatibility test: the Python library's own
SharedMemoryTransportPosix, as client or as echo server, against transport-bench.

usage: srb_peer.py client CHANNEL BUFFER_SIZE SIZE[,SIZE...]
       srb_peer.py server CHANNEL BUFFER_SIZE COUNT
"""
import sys

from shm_rpc_bridge.transport.transport_posix import SharedMemoryTransportPosix


def payload(size: int) -> bytes:
    return bytes((i * 7 + size) % 256 for i in range(size))


def client(channel: str, buffer_size: int, sizes: list[int]) -> None:
    transport = SharedMemoryTransportPosix.open(
        channel, buffer_size=buffer_size, timeout=30.0, wait_for_creation=30.0
    )
    try:
        for size in sizes:
            request = payload(size)
            transport.send_request(request)
            reply = transport.receive_response()
            if reply != request:
                sys.exit(f"echo of {size} bytes differs ({len(reply)} bytes came back)")
            print(f"echoed {size}", flush=True)
    finally:
        transport.close()


def server(channel: str, buffer_size: int, count: int) -> None:
    transport = SharedMemoryTransportPosix.create(channel, buffer_size=buffer_size, timeout=30.0)
    try:
        print("READY", flush=True)
        for _ in range(count):
            transport.send_response(transport.receive_request())
    finally:
        transport.close()


if __name__ == "__main__":
    role, channel, buffer_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if role == "client":
        client(channel, buffer_size, [int(s) for s in sys.argv[4].split(",")])
    else:
        server(channel, buffer_size, int(sys.argv[4]))
