"""A user's echo server on shm-rpc-bridge 0.2.4 (SharedMemoryTransportPosix), for
scripts/interop-python.sh: transport-bench --connect shm-posix:CHANNEL measures it. It serves
until SIGTERM or SIGINT, then closes the transport, which unlinks the channel's objects.

usage: srb_echo_server.py CHANNEL BUFFER_SIZE
"""
import signal
import sys

from shm_rpc_bridge.exceptions import RPCTimeoutError
from shm_rpc_bridge.transport.transport_posix import SharedMemoryTransportPosix

stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


def main(channel: str, buffer_size: int) -> None:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A short timeout only so that an idle server notices the signal; each wait is retried.
    transport = SharedMemoryTransportPosix.create(channel, buffer_size=buffer_size, timeout=0.2)
    try:
        print("READY", flush=True)
        while not stopping:
            try:
                request = transport.receive_request()
            except RPCTimeoutError:
                continue
            transport.send_response(request)
    finally:
        transport.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
