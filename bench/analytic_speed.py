"""How long the analytic evaluation of the 128-endpoint, 2-server scenario takes.

    python bench/analytic_speed.py [--repeat K]

Target: under one second on the 2-core CI machine (best of K).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from analysis.analytic import analyze
from sim import load

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "edge_prune" / "scale_128.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    spec = load(SCENARIO)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        figures = analyze(spec)
        times.append(time.perf_counter() - start)
    print(f"scale_128 (128 endpoints, 2 servers, {figures['states']} states): "
          f"best {min(times) * 1e3:.0f} ms, median {sorted(times)[len(times) // 2] * 1e3:.0f} ms "
          f"over {args.repeat} runs")  # fmt: skip
    print(f"availability {figures['availability']['value']:.5f}, "
          f"mean latency {figures['latency']['mean']['value'] * 1e3:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
