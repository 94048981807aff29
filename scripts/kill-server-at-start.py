#!/usr/bin/env python3
"""kill-server-at-start.py [BINARY] [KILLS] [FROM_S] [TO_S]: SIGKILLs a SHM POSIX server while
it makes its objects, KILLS times, and counts the files of a random name that glibc's sem_open
leaves in /dev/shm (sem.XXXXXX) when its maker dies between writing a semaphore and naming it,
and whatever of the server's channel `cleanup` left (in /dev/shm and under /tmp/iceoryx2).

TRANSPORT=iceoryx2 kills iceoryx2 servers instead (window: FROM_S 0.001, TO_S 0.012 cut
most of an iceoryx2 server's start-up on an AMD EPYC 2-vCPU VM), on channels named after a driver that is gone, as a killed
run's are, so that `cleanup --channel` treats the run as over.

Each server (`transport-bench --server --transport shm-posix --channel C`, with the 2.5 MB
buffers a driver gives it by default) is killed at a moment drawn evenly between FROM_S and
TO_S seconds after it was started (default 1.5 to 4 ms, when a server on an AMD EPYC 2-vCPU VM
makes its objects: the spread of objects found after the kill, printed, says whether the
window was hit), then `cleanup --channel C` removes what it made under its names. Exits 1 if a
sem.XXXXXX file appeared, a file of a channel was left or a cleanup hung. docs/robustness.md
("A server killed while it made its semaphores", "An iceoryx2 server killed as it started")
has the figures. Default binary: target/release/transport-bench.
"""
import os
import random
import re
import subprocess
import sys
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "target/release/transport-bench")
kills = int(sys.argv[2]) if len(sys.argv) > 2 else 300
low = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0015
high = float(sys.argv[4]) if len(sys.argv) > 4 else 0.004
glibc_temp = re.compile(r"^sem\.[A-Za-z0-9]{6}$")
transport = os.environ.get("TRANSPORT", "shm-posix")
# A cleanup that has not returned by then waits for ever (iceoryx2 on a segment never sized).
CLEANUP_PATIENCE_S = 30
iceoryx2_root = "/tmp/iceoryx2"


def temp_files():
    return {f for f in os.listdir("/dev/shm") if glibc_temp.match(f)}


def channel_files(channel):
    """What carries the channel's prefix in /dev/shm and under iceoryx2's root."""
    prefix = f"srb_{channel}_"
    found = [f"/dev/shm/{f}" for f in os.listdir("/dev/shm") if f.startswith(prefix)]
    for top, _, files in os.walk(iceoryx2_root):
        found += [os.path.join(top, f) for f in files if f.startswith(prefix)]
    return found


def dead_driver_channel(i):
    """A channel named as a driver names its own (tb_<pid>_p<pid namespace>_<n>), after a
    process that has exited: `cleanup` then treats its run as over."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    namespace = os.stat("/proc/self/ns/pid").st_ino
    return f"tb_{gone.pid}_p{namespace}_{i}"


def empty_node_dirs():
    """iceoryx2's node directories with nothing in them: a node killed between making its
    directory and writing its details leaves one, which names no channel."""
    nodes = os.path.join(iceoryx2_root, "nodes")
    dirs = [os.path.join(nodes, d) for d in os.listdir(nodes)] if os.path.isdir(nodes) else []
    return {d for d in dirs if os.path.isdir(d) and not os.listdir(d)}


before = temp_files()
empty_before = empty_node_dirs()
found_at_kill = {}
left_of_channels = []
hung = []
for i in range(kills):
    if transport == "iceoryx2":
        channel = dead_driver_channel(i)
    else:
        channel = f"killstart{os.getpid()}x{i}"
    server = subprocess.Popen(
        [binary, "--server", "--transport", transport, "--channel", channel,
         "--buffer-size", "2500000", "--timeout", "10s"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.uniform(low, high))
    server.kill()
    server.wait()
    made = len(channel_files(channel))
    found_at_kill[made] = found_at_kill.get(made, 0) + 1
    try:
        subprocess.run([binary, "cleanup", "--channel", channel], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, timeout=CLEANUP_PATIENCE_S)
    except subprocess.TimeoutExpired:
        hung.append(channel)
    left_of_channels += channel_files(channel)
left = sorted(temp_files() - before)
print(f"{kills} {transport} servers killed; files of the channel found after the kill: "
      f"{dict(sorted(found_at_kill.items()))}; sem.XXXXXX files left: {len(left)} {left}; "
      f"files of the channels left after cleanup: {len(left_of_channels)} {left_of_channels}; "
      f"empty node directories of iceoryx2 appeared: {len(empty_node_dirs() - empty_before)}; "
      f"cleanups that hung (killed after {CLEANUP_PATIENCE_S} s): {len(hung)} {hung}")
sys.exit(1 if left or left_of_channels or hung else 0)
