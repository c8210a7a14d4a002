"""The PA-MDI study: each testbed of scenarios/pa_mdi/ under PA-MDI and its baselines.

Every scenario runs under ``pa-mdi``, ``ar-mdi``, ``ms-mdi`` and ``local`` with its
replications; replication r of every rule uses the same seed, so the rules see the
same arrivals (common random numbers). Per source: the mean and p95 inference time
(arrival to result back, completed requests) with 95 % Student intervals over the
replications, the share completed, and the reduction of the time-sensitive
source's mean against each baseline, a paired interval over the replications.

    python -m bench.pa_mdi_study [--replications N] [--write docs/pa-mdi.md]

With ``--write`` the table replaces the text between the study markers of that file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from sim.loader import load
from sim.mdi.plan import with_rule
from sim.records import Status
from sim.streams import Streams
from sim.world import World

ROOT = Path(__file__).resolve().parent.parent
TESTBEDS = {
    "mesh5": ("5 Xavier, single-hop mesh, ResNet-50", (75.3, 73.2)),
    "mesh5_gpt2": ("5 Xavier, single-hop mesh, GPT-2", (56.4, 34.8)),
    "multihop6": ("3 Xavier + 3 Nano, multi-hop, ResNet-56", (71.4, 61.0)),
    "colosseum5": ("5 CPU nodes, lossy ring (Colosseum stand-in), ResNet-50", (None, None)),
}
RULES = ("pa-mdi", "ar-mdi", "ms-mdi", "local")
BASELINES = ("ar-mdi", "ms-mdi", "local")
START, END = "<!-- study:start -->", "<!-- study:end -->"


def replicate(file: Path, kind: str, replications: int) -> dict[str, np.ndarray]:
    """Per source: rows (mean s, p95 s, share completed), one per replication."""
    s = with_rule(load(file), kind)
    out: dict[str, list[tuple[float, float, float]]] = {}
    for r in range(replications):
        rep = World(s, Streams(s.seed, r)).run()
        for src in rep.sources:
            ok = np.isin(src.status, [Status.OK, Status.LATE])
            t = (src.completion - src.arrival)[ok]
            arrived = len(src.status) + src.in_flight
            row = (float(t.mean()), float(np.percentile(t, 95)), ok.sum() / arrived)
            out.setdefault(src.name, []).append(row)
    return {k: np.array(v) for k, v in out.items()}


def interval(x: np.ndarray) -> tuple[float, float]:
    """Mean and 95 % half-width over replications."""
    n = len(x)
    half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n) if n > 1 else float("nan")
    return float(x.mean()), float(half)


def table(replications: int) -> str:
    lines = []
    for name, (title, paper) in TESTBEDS.items():
        runs = {
            k: replicate(ROOT / f"scenarios/pa_mdi/{name}.yaml", k, replications) for k in RULES
        }
        lines += [f"**{title}** (`scenarios/pa_mdi/{name}.yaml`, {replications} replications)", ""]
        lines += ["| rule | source | mean ms | p95 ms | completed |", "|---|---|---|---|---|"]
        for k in RULES:
            for src, rows in runs[k].items():
                (m, hm), (p, hp) = interval(rows[:, 0]), interval(rows[:, 1])
                lines.append(
                    f"| {k} | {src} | {m * 1e3:.0f} ± {hm * 1e3:.0f} | {p * 1e3:.0f} ± "
                    f"{hp * 1e3:.0f} | {rows[:, 2].mean():.1%} |"
                )
        lines += ["", "| ts mean reduced vs | ours | paper |", "|---|---|---|"]
        for base, theirs in zip(BASELINES, [*paper, None], strict=True):
            cut = 1 - runs["pa-mdi"]["ts"][:, 0] / runs[base]["ts"][:, 0]
            m, h = interval(cut * 100)
            lines.append(
                f"| {base} | {m:.1f} % ± {h:.1f} | {'-' if theirs is None else theirs} % |"
            )
        lines.append("")
    return "\n".join(lines)


def write(doc: Path, text: str) -> None:
    body = doc.read_text(encoding="utf-8")
    head, rest = body.split(START, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--write", type=Path, help="put the table into this file's markers")
    args = parser.parse_args(argv)
    text = table(args.replications)
    if args.write:
        write(args.write, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
