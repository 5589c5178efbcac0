"""Run one command and measure it: wall time and peak memory of the whole process tree.

    python bench/measure.py --report REPORT.json --stdout OUT --stderr ERR -- kam evaluate ...

Run in a process of its own so that RUSAGE_CHILDREN covers this one command only.
Two peaks are reported, because `kam evaluate --workers N` (or --dask local) starts
processes of its own:

- `largest_kib`: the largest single process (getrusage RUSAGE_CHILDREN ru_maxrss, which
  the kernel keeps for every descendant that was waited for, and the VmHWM seen while
  polling, whichever is larger);
- `tree_kib`: the largest sum of VmRSS over the command and all its descendants at one
  moment, sampled every 50 ms (a peak shorter than that can be missed).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

INTERVAL = 0.05


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def _descendants(pid: int) -> set[int]:
    """pid and every process below it (through /proc/<pid>/task/<tid>/children)."""
    seen = {pid}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children", encoding="ascii") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            for k in kids:
                if k not in seen:
                    seen.add(k)
                    todo.append(k)
    return seen


def measure(cmd: list[str], stdout: Path, stderr: Path, env: dict[str, str] | None = None) -> dict:
    """Run cmd to completion; wall seconds, exit code and the two memory peaks (KiB)."""
    tree_peak = hwm_peak = processes = 0
    seen: set[int] = set()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        while child.poll() is None:
            pids = _descendants(child.pid)
            seen |= pids
            stats = [_status(p) for p in pids]
            tree_peak = max(tree_peak, sum(s.get("VmRSS", 0) for s in stats))
            hwm_peak = max([hwm_peak] + [s.get("VmHWM", 0) for s in stats])
            time.sleep(INTERVAL)
        wall = time.perf_counter() - start
    processes = len(seen)
    largest = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, hwm_peak)  # KiB on Linux
    return {"returncode": child.returncode, "wall_s": wall, "largest_kib": largest,
            "tree_kib": max(tree_peak, largest), "processes": processes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Measure one command's wall time and peak memory.")
    ap.add_argument("--report", type=Path, required=True)
    ap.add_argument("--stdout", type=Path, required=True)
    ap.add_argument("--stderr", type=Path, required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given")
    report = measure(cmd, args.stdout, args.stderr)
    args.report.write_text(json.dumps(report) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
