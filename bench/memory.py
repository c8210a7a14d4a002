"""Peak memory of one replication as the horizon grows, per kind of records, and the cost of
writing the requests table.

Each case runs in a fresh process (``python -m bench.memory --child …``) so its peak
resident set (``ru_maxrss``) is its own: load the scenario with the horizon given, simulate
one replication with ``records``, and print the peak RSS and CPU seconds. With
``records="all"`` the child also times writing ``requests.parquet`` and ``requests.csv``
alone. The report gives, per records kind, the peak at each horizon and the slope in MB per
simulated hour, and extrapolates to 24 hours.

    .venv/bin/python -m bench.memory [--scenario FILE] [--horizons 120 480] [--records summary all]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "edge_prune" / "scale_128.yaml"


def child(scenario: str, horizon: float, records: str) -> dict[str, Any]:
    """Simulate one replication; peak RSS (MB), CPU seconds, and the write times."""
    from sim.loader import load, revised
    from sim.world import simulate

    s = revised(load(scenario), scenario, horizon=horizon)
    cpu = time.process_time()
    rep = simulate(s, s.seed, 0, records=records)  # type: ignore[arg-type]
    out: dict[str, Any] = {"simulate_cpu": time.process_time() - cpu}
    out["requests"] = sum(
        len(src.ids) if src.tally is None else int(src.tally.counts.sum()) for src in rep.sources
    )
    if records == "all":
        import pyarrow.csv
        import pyarrow.parquet  # noqa: F401  (imported before timing: the write alone)

        from analysis.tables import write_requests

        with tempfile.TemporaryDirectory() as tmp:
            for fmt in ("parquet", "csv"):
                cpu = time.process_time()
                write_requests(Path(tmp) / f"requests.{fmt}", [rep], fmt)
                out[f"write_{fmt}_cpu"] = time.process_time() - cpu
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def measure(scenario: str, horizon: float, records: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.memory", "--child", scenario, str(horizon), records],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        scenario, horizon, records = sys.argv[2:5]
        print(json.dumps(child(scenario, float(horizon), records)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(DEFAULT))
    parser.add_argument("--horizons", type=float, nargs="+", default=[120.0, 480.0])
    parser.add_argument("--records", nargs="+", default=["summary", "all"])
    args = parser.parse_args()
    for records in args.records:
        rows = [(h, measure(args.scenario, h, records)) for h in args.horizons]
        for h, r in rows:
            extra = "".join(
                f", write {fmt} {r[f'write_{fmt}_cpu']:.2f} s "
                f"({100 * r[f'write_{fmt}_cpu'] / r['simulate_cpu']:.1f} % of simulating)"
                for fmt in ("parquet", "csv")
                if f"write_{fmt}_cpu" in r
            )
            print(
                f"records={records} horizon={h:g}s requests={r['requests']} "
                f"peak={r['peak_mb']:.1f} MB simulate={r['simulate_cpu']:.1f} s{extra}"
            )
        (h0, r0), (h1, r1) = rows[0], rows[-1]
        slope = (r1["peak_mb"] - r0["peak_mb"]) / (h1 - h0) * 3600
        day = r1["peak_mb"] + slope * (86400 - h1) / 3600
        print(f"records={records}: {slope:.1f} MB per simulated hour; 24 h ≈ {day:.0f} MB")


if __name__ == "__main__":
    main()
