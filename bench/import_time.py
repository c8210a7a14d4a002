"""What a command costs before it does anything: ``edgesim --help`` and a quick ``validate``.

Each command is run ``--repeat`` times as a user runs it, the ``edgesim`` console script
of this interpreter's environment in a child process; the figures are the median wall
and CPU seconds (user + system, from ``getrusage`` of the children) with their range.
The load averages before and after say how busy the machine was. Targets (issue 11):
``--help`` under 0.3 s, ``validate scenarios/quickstart.yaml`` under 0.6 s.

    python bench/import_time.py [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

EDGESIM = str(Path(sys.executable).with_name("edgesim"))
COMMANDS = {
    "edgesim --help": ([EDGESIM, "--help"], 0.3),
    "edgesim run --help": ([EDGESIM, "run", "--help"], 0.3),
    "edgesim validate scenarios/quickstart.yaml": (
        [EDGESIM, "validate", "scenarios/quickstart.yaml"],
        0.6,
    ),
}


def once(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}–{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, (command, target) in COMMANDS.items():
        once(command)  # warm the file cache
        runs = [once(command) for _ in range(args.repeat)]
        walls = [w for w, _ in runs]
        verdict = "within" if statistics.median(walls) < target else "OVER"
        print(f"{name}: wall {spread(walls)}, CPU {spread([c for _, c in runs])}; "
              f"median of {args.repeat}, {verdict} the {target} s target")  # fmt: skip
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
