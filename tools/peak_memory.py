"""Runs a command and prints its wall time and peak memory: the largest sum of the resident
memory (RSS, from /proc) of the command and all its descendants, sampled every 0.5 s.

Usage:
  python3 tools/peak_memory.py bash scripts/run.sh

Needs only the standard library, so it runs before set-up. Linux only.
"""

import os
import subprocess
import sys
import time


def tree_rss_bytes(root):
    """The resident memory of every descendant of process `root`, in bytes."""
    children, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            total += rss[pid]
            stack.append(pid)
    return total


def main(argv):
    if len(argv) < 2:
        print("usage: python3 tools/peak_memory.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    started = time.perf_counter()
    process = subprocess.Popen(argv[1:])
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(os.getpid()))
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    print(f"peak_memory: {' '.join(argv[1:])}: exit {process.returncode}, "
          f"{seconds // 60:.0f} min {seconds % 60:.0f} s, peak {peak / 2**30:.2f} GiB",
          file=sys.stderr)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
