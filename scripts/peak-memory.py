#!/usr/bin/env python3
"""The peak memory of a run's client and server processes, for the table "What a case takes,
measured" in docs/robustness.md.

Usage: scripts/peak-memory.py BINARY [ARGS...]

Runs `BINARY ARGS` (the driver) with TMPDIR a directory of its own, reads `/proc/PID/status` of
the driver and of each child that is a client (`--client`) or a server (`--server`) every 10 ms
while the driver runs, and prints, for each role, the most seen of `VmHWM` (the peak resident
set, which stays once reached), `RssShmem` (shared memory it has touched), `RssAnon` and
`RssFile`. A process that lives less than 10 ms may be missed: run cases of a second or more
(`--duration 1s --runs 1`).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

FIELDS = ("VmHWM", "RssShmem", "RssAnon", "RssFile")


def status_kib(pid):
    """The FIELDS of process `pid`'s status, in KiB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            lines = [line.split(":", 1) for line in status if ":" in line]
    except OSError:
        return None
    return {key: int(value.split()[0]) for key, value in lines if key in FIELDS}


def children(pid):
    """The pids of `pid`'s children, from each of its threads."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listed:
                found += [int(child) for child in listed.read().split()]
    except OSError:
        pass
    return found


def role(pid, driver):
    """Which of the run's processes `pid` is: driver, client, server or None."""
    if pid == driver:
        return "driver"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            args = cmdline.read().split(b"\0")
    except OSError:
        return None
    if b"--client" in args:
        return "client"
    if b"--server" in args:
        return "server"
    return None


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tmp = tempfile.mkdtemp(prefix="peak-memory-")
    try:
        env = dict(os.environ, TMPDIR=tmp)
        driver = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, env=env)
        peaks = {}
        while driver.poll() is None:
            for pid in [driver.pid] + children(driver.pid):
                name = role(pid, driver.pid)
                now = status_kib(pid) if name else None
                if now:
                    peak = peaks.setdefault(name, dict.fromkeys(FIELDS, 0))
                    for key, kib in now.items():
                        peak[key] = max(peak[key], kib)
            time.sleep(0.01)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"exit {driver.returncode}")
    for name, peak in sorted(peaks.items()):
        mib = {key: f"{kib / 1024:.1f} MiB" for key, kib in peak.items()}
        print(f"{name}: " + ", ".join(f"{key} {mib[key]}" for key in FIELDS))
    sys.exit(driver.returncode)


if __name__ == "__main__":
    main()
