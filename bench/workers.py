"""Replications in parallel: ``edgesim run --workers 2`` against ``--workers 1``.

The reference pipeline of ``bench/whole_process.py`` (``--requests`` requests per
replication, ``--bytes`` on each hop) with ``--replications`` replications is run as a
user runs it, the whole ``edgesim run`` process writing its results, serially and on
``--workers`` processes, alternating, ``--repeat`` times each. The speed-up is the
median serial wall time over the median parallel one, and the fastest over the fastest
(on a shared machine, the runs least disturbed by other work); CPU seconds (user +
system of the command and the worker processes it waited for) are given beside. Both
runs must give the same summary, apart from its start time and wall seconds. Issue 11's target: at
least 1.8x with 2 workers on 2 cores for 8 replications.

    python bench/workers.py [--replications R] [--workers W] [--requests N] [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from whole_process import child, scenario  # this folder's reference pipeline


def timed(command: list[str]) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU seconds of ``command`` and the summary it prints (``--json``)."""
    wall, cpu, stdout = child(command)
    summary = json.loads(stdout)
    summary.pop("run")  # start time and wall seconds differ between any two runs
    return wall, cpu, summary


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=50_000, help="per replication")
    parser.add_argument("--bytes", type=float, default=100.0, help="on each hop")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "reference.yaml"
        raw = scenario(args.requests, args.bytes, args.bytes)
        file.write_text(yaml.safe_dump(raw | {"replications": args.replications}), "utf-8")
        runs: dict[int, list[tuple[float, float]]] = {1: [], args.workers: []}
        summaries: dict[int, dict[str, Any]] = {}
        for k in range(args.repeat):
            for workers in runs:
                out = Path(tmp) / f"out-{workers}-{k}"
                command = [sys.executable, "-m", "sim", "run", str(file), "--out", str(out),
                           "--json", "--workers", str(workers)]  # fmt: skip
                wall, cpu, summary = timed(command)
                runs[workers].append((wall, cpu))
                assert summaries.setdefault(workers, summary) == summary, "not reproducible"
    assert summaries[1] == summaries[args.workers], "parallel and serial summaries differ"
    for workers, samples in runs.items():
        print(f"--workers {workers}: wall {spread([w for w, _ in samples])}, "
              f"CPU {spread([c for _, c in samples])}")  # fmt: skip
    serial, parallel = (statistics.median(w for w, _ in runs[n]) for n in runs)
    fastest = min(w for w, _ in runs[1]) / min(w for w, _ in runs[args.workers])
    print(f"speed-up: {serial / parallel:.2f}x of the medians, {fastest:.2f}x of the fastest "
          f"runs (the least disturbed by other work); {args.replications} replications of "
          f"{args.requests:,} requests, {args.repeat} runs each; summaries identical")  # fmt: skip
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
