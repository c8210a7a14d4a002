"""The RoCoIn study: RoCoIn and its baselines vs failure probability and heterogeneity.

For each cluster of ``scenarios/rocoin/`` (homogeneous, moderate, high heterogeneity)
and each failure probability p (every cluster device down a share p of the time,
crash-recover with a mean repair of 2 s), five designs are simulated on the same
arrivals and failure processes (common random numbers): RoCoIn as
``analysis.rocoin.choose`` plans it for that p (K >= 2, groups of at least two), the
teacher alone on the fastest device that holds it, one student per device (NoNN, K = N),
RoCoIn's K with a random grouping, and every device running one same student (K = 1).
Each row: latency mean and p95 and accuracy over all requests (a lost request is
wrong), each with its 95 % interval over the replications, and the share of requests
answered.

``--stragglers`` varies the devices' noise instead (cv 0, 0.3, 1 at p = 0.1); ``--gap``
measures the heuristic's optimality gap against the exact optimiser on random
instances. ``--write`` puts the table into docs/rocoin.md (between the ``<!-- study
-->``, ``<!-- stragglers -->`` or ``<!-- gap -->`` markers). The baselines' K = 1 and
K = 8 ensembles are distilled into the cache first when missing.

    python bench/rocoin_study.py [--replications 5] [--quick] [--stragglers | --gap] [--write]
"""

from __future__ import annotations

import argparse
import copy
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from analysis.rocoin import Instance, Rules, choose, exact, heuristic
from analysis.rocoin_plan import instances, random_groups, rocoin_graphs, teacher
from analysis.summary import summary
from sim.graph.systems.rocoin import find, service
from sim.loader import from_dict
from sim.run import run
from sim.spec import Scenario

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "scenarios" / "rocoin"
CLUSTERS = ("homogeneous", "moderate", "high", "large")
NOISES = (0.0, 0.3, 1.0)
"""Straggling: the cv of every cluster device's lognormal service noise (``--stragglers``)."""
PROBABILITIES = (0.0, 0.1, 0.2, 0.3)
REPAIR = 2.0
RULES = Rules(min_group=2)


def raw_cluster(name: str, p: float, cv: float = 0.3) -> dict[str, Any]:
    """The cluster file with every device down a share ``p`` of the time, its service
    noise of coefficient of variation ``cv``."""
    raw: dict[str, Any] = yaml.safe_load((FOLDER / f"{name}.yaml").read_text(encoding="utf-8"))
    for key, device in raw["devices"].items():
        if key == "hub":
            continue
        device["service_noise"] = {"kind": "lognormal", "mean": 1, "cv": cv}
        device.pop("failure", None)
        if p > 0:
            ttf = {"kind": "exponential", "mean": REPAIR * (1 - p) / p}
            device["failure"] = {"ttf": ttf, "ttr": {"kind": "exponential", "mean": REPAIR}}
    return raw


def load(raw: dict[str, Any]) -> Scenario:
    return from_dict(raw, file="study", base=FOLDER)


def ensure() -> None:
    """The K = 1 and K = 8 ensembles of the baselines, distilled into the cache if missing
    (needs the ``edgesim[train]`` extra; 40-260 s each)."""
    from models.ensemble import DistillRecipe, obtain

    for k in (1, 8):
        obtain(DistillRecipe(k))


def designs(raw: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """The five designs of one cluster at one p, as scenarios (None: no ensemble for it)."""
    s = load(raw)
    c = rocoin_graphs(s)[0]
    found = instances(s, c)
    plan = choose({k: i for k, i in found.items() if k > 1}, RULES)
    assert plan is not None, "the clusters have room for two groups of two"
    names = list(c.names)
    out: dict[str, dict[str, Any] | None] = {
        f"rocoin K={plan.students}": _system(raw, plan.named(names))
    }
    out["teacher"] = _teacher(raw, s)
    out[f"nonn K={len(names)}"] = (
        _system(raw, [[n] for n in names]) if len(names) in found else None
    )
    rand = random_groups(len(names), plan.students, RULES.min_group, seed=1)
    out[f"random K={plan.students}"] = _system(raw, [[names[i] for i in g] for g in rand])
    out["replicate K=1"] = _system(raw, [names])
    return out


def _system(raw: dict[str, Any], groups: list[list[str]]) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    out["graphs"]["rocoin"]["system"]["groups"] = groups
    return out


def _teacher(raw: dict[str, Any], s: Scenario) -> dict[str, Any]:
    from sim.graph.accuracy_checks import trained

    c = rocoin_graphs(s)[0]
    chosen = teacher(s, c)
    ensemble = find(c.spec.ensemble_name())
    assert ensemble is not None
    model = trained(str(ensemble.card["teacher"]))
    device = s.devices[chosen.layout]
    out = copy.deepcopy(raw)
    graph = out["graphs"]["rocoin"]
    del graph["system"]
    graph["input_bytes"] = c.input_bytes
    graph["accuracy"] = {"model": model.name}
    graph["actors"] = {
        "teacher": {"on": chosen.layout, "service": service(device, model.onnx_path),
                    "output_bytes": 40},
    }  # fmt: skip
    return out


def measure(raw: dict[str, Any], replications: int) -> dict[str, Any]:
    s = load(raw)
    reps = run(s, replications=replications, records="summary")
    tree = summary(reps)
    return {
        "mean": tree["latency"]["mean"],
        "p95": tree["latency"]["p95"],
        "accuracy": tree["accuracy"]["all"],
        "answered": tree["success_ratio"],
    }


def _cell(figure: dict[str, Any], scale: float = 1e3, digits: int = 2) -> str:
    low, high = figure["ci95"]
    mean = figure["mean"]
    if low is None or high is None:
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ({low * scale:.{digits}f}–{high * scale:.{digits}f})"


def study(replications: int, cases: list[tuple[str, float, float]], axis: str) -> str:
    """One row per (cluster, p, noise cv) case and design; ``axis`` names the varied column."""
    head = f"| cluster | {axis} | design | latency mean ms | latency p95 ms | accuracy (all) % | answered % |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for name, p, cv in cases:
        for design, raw in designs(raw_cluster(name, p, cv)).items():
            value = f"{p:.1f}" if axis == "p" else f"{cv:.1f}"
            if raw is None:
                lines.append(f"| {name} | {value} | {design} | no ensemble | | | |")
                continue
            f = measure(raw, replications)
            lines.append(
                f"| {name} | {value} | {design} | {_cell(f['mean'])} | {_cell(f['p95'])} | "
                f"{_cell(f['accuracy'], 100, 1)} | {f['answered']['mean'] * 100:.1f} |"
            )
            print(lines[-1], flush=True)
    return "\n".join(lines)


def random_instance(rng: np.random.Generator, n: int, k: int) -> Instance:
    """Heterogeneous devices (speeds over a decade), students within ±20 %, p up to 0.3."""
    times = rng.uniform(1, 10, (n, 1)) * rng.uniform(0.8, 1.2, (1, k))
    fits = rng.random((n, k)) > 0.1
    return Instance(tuple(f"d{i}" for i in range(n)), times, rng.uniform(0, 0.3, n), fits)


def gap(count: int) -> str:
    rng = np.random.default_rng(2024)
    lines = [
        "| N | K | instances | heuristic optimal | mean gap % | max gap % | exact s | heuristic s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in (6, 7, 8):
        for k in (2, 3, 4):
            if n < 2 * k:
                continue
            gaps, t_exact, t_heur = [], 0.0, 0.0
            for _ in range(count):
                inst = random_instance(rng, n, k)
                t0 = time.perf_counter()
                best = exact(inst, RULES)
                t1 = time.perf_counter()
                quick = heuristic(inst, RULES)
                t_exact, t_heur = t_exact + t1 - t0, t_heur + time.perf_counter() - t1
                if best is None:
                    continue
                found = quick.score.mean if quick is not None else float("inf")
                gaps.append((found - best.score.mean) / best.score.mean)
            g = np.array(gaps)
            lines.append(
                f"| {n} | {k} | {len(g)} | {np.mean(g < 1e-9) * 100:.0f} % | {g.mean() * 100:.2f} | "
                f"{g.max() * 100:.2f} | {t_exact / count:.3f} | {t_heur / count:.4f} |"
            )
            print(lines[-1], flush=True)
    return "\n".join(lines)


def write(marker: str, table: str) -> None:
    doc = ROOT / "docs" / "rocoin.md"
    text = doc.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- {marker} -->\n).*?(<!-- /{marker} -->)", re.S)
    found = pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)
    doc.write_text(found, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replications", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one cluster, p = 0 and 0.3")
    parser.add_argument("--gap", action="store_true", help="the heuristic's optimality gap")
    parser.add_argument("--instances", type=int, default=20, help="with --gap: per (N, K)")
    parser.add_argument(
        "--stragglers", action="store_true", help="vary the noise's cv instead, at p = 0.1"
    )
    parser.add_argument("--write", action="store_true", help="into docs/rocoin.md")
    args = parser.parse_args()
    if args.gap:
        table, marker = gap(args.instances), "gap"
    elif args.stragglers:
        ensure()
        cases = [(name, 0.1, cv) for name in ("moderate", "high") for cv in NOISES]
        table, marker = study(args.replications, cases, "noise cv"), "stragglers"
    else:
        ensure()
        clusters, ps = (CLUSTERS[:1], (0.0, 0.3)) if args.quick else (CLUSTERS, PROBABILITIES)
        cases = [(name, p, 0.3) for name in clusters for p in ps]
        table, marker = study(args.replications, cases, "p"), "study"
    if args.write:
        write(marker, table)


if __name__ == "__main__":
    main()
