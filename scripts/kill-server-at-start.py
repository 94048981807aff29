#!/usr/bin/env python3
"""kill-server-at-start.py [BINARY] [KILLS] [FROM_S] [TO_S]: SIGKILLs a SHM POSIX server while
it makes its objects, KILLS times, and counts the files of a random name that glibc's sem_open
leaves in /dev/shm (sem.XXXXXX) when its maker dies between writing a semaphore and naming it.

Each server (`transport-bench --server --transport shm-posix --channel C`, with the 2.5 MB
buffers a driver gives it by default) is killed at a moment drawn evenly between FROM_S and
TO_S seconds after it was started (default 1.5 to 4 ms, when a server on an AMD EPYC 2-vCPU VM
makes its objects: the spread of objects found after the kill, printed, says whether the
window was hit), then `cleanup --channel C` removes what it made under its names. Exits 1 if a sem.XXXXXX file appeared. docs/robustness.md ("A server killed
while it made its semaphores") has the figures. Default binary: target/release/transport-bench.
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


def temp_files():
    return {f for f in os.listdir("/dev/shm") if glibc_temp.match(f)}


before = temp_files()
found_at_kill = {}
for i in range(kills):
    channel = f"killstart{os.getpid()}x{i}"
    server = subprocess.Popen(
        [binary, "--server", "--transport", "shm-posix", "--channel", channel,
         "--buffer-size", "2500000", "--timeout", "10s"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.uniform(low, high))
    server.kill()
    server.wait()
    made = sum(f"srb_{channel}_" in f for f in os.listdir("/dev/shm"))
    found_at_kill[made] = found_at_kill.get(made, 0) + 1
    subprocess.run([binary, "cleanup", "--channel", channel],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
left = sorted(temp_files() - before)
print(f"{kills} kills; objects of the channel found after the kill: "
      f"{dict(sorted(found_at_kill.items()))}; sem.XXXXXX files left: {len(left)} {left}")
sys.exit(1 if left else 0)
