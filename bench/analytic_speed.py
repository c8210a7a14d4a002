"""How long the analytic evaluation of the 128-endpoint, 2-server scenario takes.

    python bench/analytic_speed.py [--repeat K]

Three figures per round, each as wall and CPU seconds: the core (``analyze`` on the
loaded scenario, in this process), the whole ``edgesim analyze FILE --json`` process
(start-up, imports, loading, analysis, output), and a fixed baseline workload (pure
Python and numpy, the same every run). On a shared machine the seconds swing with
the load beside them; the ratios to the baseline measured in the same round swing
much less, so compare those across machines and runs. Prints the median and the
range over K rounds.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from analysis.analytic import analyze
from sim import load

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "edge_prune" / "scale_128.yaml"
EDGESIM = [sys.executable, "-m", "sim", "analyze", str(SCENARIO), "--json"]


def baseline() -> None:
    """A fixed mix of interpreter and single-threaded numpy work, about 0.1 s here."""
    total = 0
    for i in range(1_000_000):
        total += i * i % 7
    x = np.random.default_rng(0).random(2_000_000)
    for _ in range(5):
        np.sort(x)


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of ``work`` in this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def process() -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one ``edgesim analyze`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(EDGESIM, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def spread(values: list[float], scale: float = 1.0, unit: str = "") -> str:
    med, lo, hi = statistics.median(values), min(values), max(values)
    return f"{med * scale:.3g}{unit} [{lo * scale:.3g}–{hi * scale:.3g}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    spec = load(SCENARIO)
    analyze(spec)  # warm caches (imports, the cost model) before timing
    rows: dict[str, list[tuple[float, float]]] = {"baseline": [], "core": [], "process": []}
    for _ in range(args.repeat):
        rows["baseline"].append(timed(baseline))
        rows["core"].append(timed(lambda: analyze(spec)))
        rows["process"].append(process())
    base_wall = [w for w, _ in rows["baseline"]]
    base_cpu = [c for _, c in rows["baseline"]]
    figures = analyze(spec)
    print(f"scale_128 (128 endpoints, 2 servers, {figures['states']} states), "
          f"{args.repeat} rounds: median [min–max]")  # fmt: skip
    for name, values in rows.items():
        wall = [w for w, _ in values]
        cpu = [c for _, c in values]
        line = f"  {name:9s} wall {spread(wall, 1e3, ' ms')}  cpu {spread(cpu, 1e3, ' ms')}"
        if name != "baseline":
            wall_ratio = [w / b for w, b in zip(wall, base_wall, strict=True)]
            cpu_ratio = [c / b for c, b in zip(cpu, base_cpu, strict=True)]
            line += f"  × baseline: wall {spread(wall_ratio)}  cpu {spread(cpu_ratio)}"
        print(line)
    print(f"availability {figures['availability']['value']:.5f}, "
          f"mean latency {figures['latency']['mean']['value'] * 1e3:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
