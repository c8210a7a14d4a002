"""Estimated events per second: what the event-count limit (``sim.budget``) means in time.

For each shipped scenario, ``sim.budget.estimate`` divided by the wall and the CPU seconds
of ``sim.run`` on it, ``--repeat`` times; docs/scenario-format.md quotes the spread.

    python bench/event_rate.py [--repeat K]
"""

from __future__ import annotations

import argparse
import time

from sim import load, run
from sim.budget import LIMIT, estimate

SCENARIOS = (
    "scenarios/reference/mm1.yaml",
    "scenarios/reference/tandem.yaml",
    "scenarios/edge_prune/primary_backup.yaml",
    "scenarios/quickstart.yaml",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    slowest = float("inf")
    for file in SCENARIOS:
        s = load(file)
        events = estimate(s)
        rates = []
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            run(s)
            rates.append(
                (events / (time.perf_counter() - wall), events / (time.process_time() - cpu))
            )
        walls = [w for w, _ in rates]
        slowest = min(slowest, *walls)
        print(f"{file}: {events:.3g} events; per wall second "
              f"{min(walls):.3g}–{max(walls):.3g}, per CPU second "
              f"{min(c for _, c in rates):.3g}–{max(c for _, c in rates):.3g}")  # fmt: skip
    print(f"the limit of {LIMIT:.0e} events is at most {LIMIT / slowest / 60:.1f} minutes here")


if __name__ == "__main__":
    main()
