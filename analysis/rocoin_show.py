"""``edgesim plan FILE --strategy rocoin``: RoCoIn's chosen grouping beside the baselines.

For each RoCoIn graph of the scenario: the plan of :func:`analysis.rocoin.choose` over
the K ≥ 2 of the ensembles at hand (K = 1 is the full-replication baseline; exact up to
:data:`analysis.rocoin.EXACT_UP_TO` devices, the heuristic beyond), the ``groups:``
line that deploys it, and the baselines of :func:`analysis.rocoin_plan.baselines`, each
with its latency law's mean and 95th percentile given an answer and the probabilities
that every and that some group answers (the law of :func:`analysis.rocoin.evaluate`:
idle devices, independent failures; the simulation adds queues, noise and the
aggregator's timeout).
"""

from __future__ import annotations

import json
from typing import Any

from analysis.rocoin import Rules, Score, choose
from analysis.rocoin_plan import Cluster, baselines, instances, rocoin_graphs
from sim.spec import Scenario


def show(s: Scenario, min_group: int, target: float | None, objective: str, as_json: bool) -> str:
    """The plan of every RoCoIn graph of ``s``, as text or JSON."""
    clusters = rocoin_graphs(s)
    if not clusters:
        raise ValueError(f"--strategy rocoin: {s.name} has no graph with system: {{kind: rocoin}}")
    rules = Rules(min_group, target, objective)
    rows = [_rows(s, c, rules) for c in clusters]
    if as_json:
        return json.dumps(rows, indent=2, allow_nan=False)
    return "\n\n".join(_text(r, rules) for r in rows)


def _rows(s: Scenario, c: Cluster, rules: Rules) -> dict[str, Any]:
    found = instances(s, c)
    if not found:
        raise ValueError(f"graphs.{c.graph}: no distilled ensemble at hand (edgesim model distill)")
    plan = choose({k: inst for k, inst in found.items() if k > 1}, rules)
    designs = [
        {"design": b.name, "layout": b.layout, **_score(b.score)}
        for b in baselines(s, c, plan, rules)
    ]
    chosen = None
    if plan is not None:
        chosen = {
            "students": plan.students,
            "groups": plan.named(c.names),
            "method": plan.method,
            **_score(plan.score),
        }
    return {"graph": c.graph, "ensembles": sorted(found), "rocoin": chosen, "baselines": designs}


def _score(score: Score | None) -> dict[str, float | None]:
    if score is None:
        return {"mean": None, "p95": None, "every": None, "some": None}
    return {"mean": score.mean, "p95": score.p95, "every": score.every, "some": score.some}


def _text(row: dict[str, Any], rules: Rules) -> str:
    head = f"graphs.{row['graph']}: ensembles K = {row['ensembles']}; RoCoIn (K >= 2), "
    head += f"groups of at least {rules.min_group}"
    head += f", P(every group) >= {rules.target}" if rules.target else ""
    lines = [head + f", by {rules.objective}"]
    chosen = row["rocoin"]
    if chosen is None:
        lines.append("  no grouping meets the rules")
    else:
        groups = ", ".join("[" + ", ".join(g) + "]" for g in chosen["groups"])
        lines.append(
            f"  rocoin  K = {chosen['students']}  {_figures(chosen)}  ({chosen['method']})"
        )
        lines.append(f"  groups: [{groups}]")
    for b in row["baselines"]:
        lines.append(f"  {b['design']:<32} {_figures(b)}  {b['layout']}")
    return "\n".join(lines)


def _figures(row: dict[str, Any]) -> str:
    if row["mean"] is None:
        return "not available"
    return (
        f"mean {row['mean'] * 1e3:8.3f} ms  p95 {row['p95'] * 1e3:8.3f} ms  "
        f"P(every) {row['every']:.4f}  P(some) {row['some']:.4f}"
    )
