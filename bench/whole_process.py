"""The whole ``edgesim run`` process against a bare SimPy model, in requests per CPU-second.

The reference pipeline of ``bench/bare_simpy.py`` (camera -> edge -> server over 5 ms,
1 Gbit/s links, Poisson arrivals at 20/s, exponential services of 10, 30 and 15 ms) is
written as a scenario file and run as a user runs it: ``edgesim run FILE --out DIR
--json`` in a child process, imports, loading, simulation and writing its results
included. The bare model runs in a child process of its own (imports included; it
writes nothing). Each child's CPU seconds (user + system, from ``getrusage`` of the
children) are given beside its wall seconds, for three tensor cases:

- ``zero``: zero-size messages, so links only add latency;
- ``100B``: a 100-byte tensor on every hop, result included;
- ``quickstart``: the quickstart's sizes, a 100,352-byte cut tensor
  (32 × 28 × 28 fp32) on each forward hop and a 1,000-byte result back.

For each case and request count the children are run ``--repeat`` times, edgesim and
bare alternating so both see the same machine; the figures are medians with the range
(min–max) beside them. The ratio is edgesim's requests per CPU-second over the bare
model's: 1.00 or more means the whole process costs no more CPU than the bare
simulation alone. "outside" is the part of edgesim's wall time not spent simulating
(imports, loading, writing results), from the summary's ``run.wall_seconds``.

    python bench/whole_process.py [--quick] [--requests N ...] [--repeat K] [--case C ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BARE = Path(__file__).with_name("bare_simpy.py")
MEANS = (0.010, 0.030, 0.015)  # as in bare_simpy.py
RATE = 20.0
CASES = {"zero": (0.0, 0.0), "100B": (100.0, 100.0), "quickstart": (100_352.0, 1_000.0)}


def scenario(requests: int, size: float = 0.0, result: float = 0.0) -> dict[str, Any]:
    """The reference pipeline as an edgesim scenario: ``size`` bytes out of each stage."""
    devices = ("camera", "edge", "server")
    layers = [{"name": d, "op": "gemm", "flops": 0, "output_bytes": size} for d in devices]
    return {
        "name": "reference-pipeline",
        "seed": 1,
        "horizon": requests / RATE * 2,
        "devices": {d: {} for d in devices},
        "links": [
            {"ends": ["camera", "edge"], "bandwidth": "1Gbps", "latency": "5ms"},
            {"ends": ["edge", "server"], "bandwidth": "1Gbps", "latency": "5ms"},
        ],
        "model": {"input_bytes": 0, "layers": layers},
        "pipelines": {
            "p": {
                "result_bytes": result,
                "stages": [
                    {"layers": [d, d], "on": d, "service": {"kind": "exponential", "mean": m}}
                    for d, m in zip(devices, MEANS, strict=True)
                ],
            }
        },
        "workload": [
            {"name": "cam", "at": "camera", "pipeline": "p", "count": requests,
             "arrivals": {"kind": "poisson", "rate": RATE}}
        ],
    }  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """One child process: wall and CPU seconds, and seconds spent simulating."""

    wall: float
    cpu: float
    simulating: float
    mean_latency: float


def child(command: list[str]) -> tuple[float, float, str]:
    """Run ``command`` to the end: its wall seconds, CPU seconds and standard output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, done.stdout


def edgesim(requests: int, size: float, result: float) -> Sample:
    """``edgesim run`` on the reference pipeline, writing its results into a fresh folder."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "reference.yaml"
        file.write_text(yaml.safe_dump(scenario(requests, size, result)), encoding="utf-8")
        out = Path(tmp) / "out"
        command = [sys.executable, "-m", "sim", "run", str(file), "--out", str(out), "--json"]
        wall, cpu, stdout = child(command)
        summary = json.loads(stdout)
        assert summary["requests"]["ok"]["mean"] == requests, summary["requests"]
        assert any(out.glob("requests.*")), sorted(p.name for p in out.iterdir())
    return Sample(wall, cpu, summary["run"]["wall_seconds"], summary["latency"]["mean"]["mean"])


def bare(requests: int, size: float, result: float) -> Sample:
    """The bare SimPy model of the same system, in its own process."""
    command = [sys.executable, str(BARE), "--requests", str(requests)]
    command += ["--bytes", str(size), "--result-bytes", str(result)]
    wall, cpu, stdout = child(command)
    line = json.loads(stdout)
    assert line["requests"] == requests, line
    return Sample(wall, cpu, line["seconds"], line["mean_latency"])


def spread(values: list[float], digits: str = ".2f") -> str:
    """Median with the range beside it."""
    return f"{statistics.median(values):{digits}} ({min(values):{digits}}–{max(values):{digits}})"


def report(case: str, n: int, runs: dict[str, list[Sample]]) -> dict[str, float]:
    """Print one case's lines; return each model's median CPU seconds."""
    medians = {}
    for name, samples in runs.items():
        rates = [n / s.cpu for s in samples]
        medians[name] = statistics.median(rates)
        outside = [s.wall - s.simulating for s in samples] if name == "edgesim" else []
        extra = f", outside the simulation {spread(outside)} s" if outside else ""
        print(f"  {case:>10} {n:>9,} {name:>7}: {spread(rates, ',.0f')} requests/CPU-s; "
              f"CPU {spread([s.cpu for s in samples])} s, wall {spread([s.wall for s in samples])}"
              f" s{extra}; mean latency {samples[0].mean_latency * 1e3:.2f} ms")  # fmt: skip
    ratio = medians["edgesim"] / medians["bare"]
    print(f"  {case:>10} {n:>9,}   ratio: {ratio:.2f}x (edgesim / bare, requests per CPU-s)")
    return {name: statistics.median(s.cpu for s in samples) for name, samples in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--case", choices=sorted(CASES), nargs="+", default=list(CASES))
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 requests")
    args = parser.parse_args()
    counts = [10_000, 100_000] if args.quick else args.requests
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cpu: dict[str, list[float]] = {}
    for case in args.case:
        size, result = CASES[case]
        for n in counts:
            runs: dict[str, list[Sample]] = {"edgesim": [], "bare": []}
            for _ in range(args.repeat):
                runs["edgesim"].append(edgesim(n, size, result))
                runs["bare"].append(bare(n, size, result))
            cpu.setdefault(case, []).append(report(case, n, runs)["edgesim"])
    for case, seconds in cpu.items():
        for (n0, c0), (n1, c1) in itertools.pairwise(zip(counts, seconds, strict=True)):
            slope = (c1 - c0) / (n1 - n0)
            print(f"  {case:>10} edgesim, {n0:,} to {n1:,}: {slope * 1e6:.1f} µs CPU per further "
                  f"request, {c0 - slope * n0:.2f} s fixed (imports, loading)")  # fmt: skip
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
