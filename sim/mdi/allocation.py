"""The priority-aware allocation problem, convex, solved with scipy.

For the sources m of an MDI pipeline and its workers n, choose x[m, n] ≥ 0, the
share of source m's work run on worker n (Σ_n x[m, n] = 1; zero where n cannot be
reached from m's device over links between workers), to minimise the
priority-weighted time in the system per second, less the weighted success:

    J(x) = Σ_m w_m λ_m Σ_n x[m, n] (d[m, n] − τ_m log(1 − P[m, n]))
           + Σ_n Σ_k (w_(k) − w_(k+1)) ρ_{n,≥k} / (1 − ρ_{n,≥k}),
    ρ_{n,≥k} = Σ_{m: w_m ≥ w_(k)} λ_m x[m, n] c_n,   ρ_{n,≥K} ≤ 0.99,

with w_m = γ_m α_m (the rule's γ), w_(1) > … > w_(K) the distinct weights and
w_(K+1) = 0, λ_m the source's rate, c_n the whole model's seconds on n (per slot),
d[m, n] the seconds to carry a task from m's device to n (latency plus the mean
partition input over each hop's rate, along the fewest-hop path), P[m, n] the chance
a request is lost there (the worker's unavailability E[ttr] / (E[ttf] + E[ttr]) and
each hop's loss on every attempt), and τ_m the price of a lost request (its deadline,
or 1 s). The second sum is, by Little's law, Σ_m w_m λ_m T_m at M/M/1 stations
serving by preemptive priority with a common service rate, where the top k classes
hold ρ_{≥k} / (1 − ρ_{≥k}) requests whatever the classes below do: each term is a
non-negative multiple of a convex function of a linear one, so J is convex and
SLSQP's optimum is the global one. ``local`` puts all of a source's work on its
device. The times reported are d plus c / ((1 − σ_above)(1 − σ_with)) (infinite at a
worker loaded to 1 or more).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np

from sim.mdi.plan import Plan, plans, with_rule
from sim.spec import Periodic, Poisson, Scenario, SourceSpec

RHO_MAX = 0.99


@dataclass(frozen=True, slots=True)
class Allocation:
    """One source's share of work per worker, and what the model predicts for it."""

    source: str
    pipeline: str
    rule: str
    weight: float
    shares: dict[str, float]
    seconds: float  # mean time of a request: carrying, compute and M/M/1 waiting
    success: float  # the probability a request is not lost


def allocate(s: Scenario, kind: str | None = None) -> list[Allocation]:
    """The allocation of every MDI source, under its pipeline's rule or ``kind``."""
    out = []
    for plan in plans(s if kind is None else with_rule(s, kind)).values():
        out += _solve(s, plan)
    return out


def _solve(s: Scenario, plan: Plan) -> list[Allocation]:
    sources = [src for src in s.workload if src.pipeline == plan.pipeline]
    workers = list(plan.workers)
    c = np.array([sum(plan.costs[k][w] for k in range(len(plan.spans))) for w in workers])
    c = c / np.array([s.devices[w].slots for w in workers])
    lam = np.array([_rate(s, src) for src in sources])
    spec, gamma = plan.spec, plan.rule.gamma
    weight = np.array([gamma(spec, x.name) * spec.success(x.name) for x in sources])
    d, p, reach = distances(s, plan, sources, workers)
    tau = np.array([src.deadline or 1.0 for src in sources])
    problem = Problem(lam, weight, c, (weight * lam)[:, None] * (d - tau[:, None] * np.log1p(-p)))
    if plan.rule.offloads:
        x = problem.solve(reach)
    else:
        x = np.array([[1.0 if w == src.at else 0.0 for w in workers] for src in sources])
    seconds = d + problem.sojourn(x)
    return [_row(src, plan, float(weight[i]), workers, x[i], seconds[i], p[i])
            for i, src in enumerate(sources)]  # fmt: skip


class Problem:
    """J(x) for sources of rates ``lam`` and weights ``w`` on workers of seconds ``c``."""

    def __init__(self, lam: np.ndarray, w: np.ndarray, c: np.ndarray, linear: np.ndarray) -> None:
        self.lam, self.w, self.c, self.linear = lam, w, c, linear
        self.shape = linear.shape
        levels = sorted(set(w.tolist()), reverse=True)  # the classes, highest first
        steps = [a - b for a, b in itertools.pairwise([*levels, 0.0])]
        self.classes = [(w >= level, step) for level, step in zip(levels, steps, strict=True)]

    def load(self, x: np.ndarray, members: np.ndarray) -> np.ndarray:
        """ρ of the sources ``members`` at every worker."""
        return np.asarray(((self.lam * members)[:, None] * x).sum(axis=0) * self.c)

    def cost(self, flat: np.ndarray) -> float:
        x = flat.reshape(self.shape)
        queue = 0.0
        for members, step in self.classes:
            r = np.minimum(self.load(x, members), RHO_MAX)
            queue += step * float((r / (1 - r)).sum())
        return float((self.linear * x).sum()) + queue

    def solve(self, reach: np.ndarray) -> np.ndarray:
        from scipy.optimize import minimize

        m = self.shape[0]
        everyone = np.ones(m, dtype=bool)
        constraints = [
            {"type": "eq", "fun": lambda f, i=i: f.reshape(self.shape)[i].sum() - 1.0}
            for i in range(m)
        ] + [
            {"type": "ineq", "fun": lambda f: RHO_MAX - self.load(f.reshape(self.shape), everyone)}
        ]
        start = reach / reach.sum(axis=1, keepdims=True)
        result = minimize(
            self.cost, start.ravel(), method="SLSQP",
            bounds=[(0.0, 1.0 if ok else 0.0) for ok in reach.ravel()],
            constraints=constraints, options={"maxiter": 500, "ftol": 1e-12},
        )  # fmt: skip
        return np.asarray(np.clip(result.x.reshape(self.shape), 0.0, 1.0))

    def sojourn(self, x: np.ndarray) -> np.ndarray:
        """Each source's M/M/1 preemptive-priority time at each worker:
        c / ((1 − σ_above)(1 − σ_with)), σ the load of the classes above it, or with it."""
        out = np.zeros(self.shape)
        for i, w in enumerate(self.w):
            above, upto = self.load(x, self.w > w), self.load(x, self.w >= w)
            with np.errstate(divide="ignore"):
                out[i] = np.where(upto < 1, self.c / ((1 - above) * (1 - upto)), np.inf)
        return out


def _row(
    src: SourceSpec, plan: Plan, weight: float, workers: list[str], x: np.ndarray,
    seconds: np.ndarray, p: np.ndarray,
) -> Allocation:  # fmt: skip
    shares = {w: round(float(x[j]), 4) for j, w in enumerate(workers) if x[j] > 1e-4}
    return Allocation(
        src.name, plan.pipeline, plan.rule.kind, weight, shares,
        float(x[x > 0] @ seconds[x > 0]), float(x @ (1 - p)),
    )  # fmt: skip


def _rate(s: Scenario, src: SourceSpec) -> float:
    if isinstance(src.arrivals, Poisson | Periodic):
        return src.arrivals.rate
    times = src.arrivals.sorted_times
    return len(times) / max(s.horizon, times[-1] if times else 0.0)


def distances(
    s: Scenario, plan: Plan, sources: list[SourceSpec], workers: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Carrying seconds, loss probability and reachability, per (source, worker)."""
    graph = nx.Graph()
    graph.add_nodes_from(workers)
    for link in s.links:
        a, b = link.ends
        if a in workers and b in workers and not graph.has_edge(a, b):
            graph.add_edge(a, b, spec=link)
    size = float(np.mean(plan.sizes))
    shape = (len(sources), len(workers))
    d, p, reach = np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=bool)
    for i, src in enumerate(sources):
        paths = nx.single_source_shortest_path(graph, src.at)
        for j, w in enumerate(workers):
            if w not in paths:
                continue
            reach[i, j] = True
            ok = 1.0 - _unavailability(s, w)
            for a, b in itertools.pairwise(paths[w]):
                link = graph.edges[a, b]["spec"]
                d[i, j] += link.latency + size * 8 / link.bandwidth
                loss = link.loss if isinstance(link.loss, float) else link.loss.mean
                ok *= 1.0 - loss ** (link.max_retransmits + 1)
            p[i, j] = min(1.0 - ok, 1.0 - 1e-9)
    return d, p, reach


def _unavailability(s: Scenario, device: str) -> float:
    failure = s.devices[device].failure
    if failure is None or failure.ttr is None:
        return 0.0 if failure is None else 1.0 - 1e-9
    ttf, ttr = failure.ttf.mean, failure.ttr.mean
    return ttr / (ttf + ttr) if math.isfinite(ttf + ttr) else 0.0


def show(rows: list[Allocation], name: str) -> str:
    """The allocations as a plain table."""
    lines = [f"{name}: allocation per source (convex model, docs/pa-mdi.md)"]
    lines.append(f"{'source':<10} {'rule':<7} {'γ·α':>6} {'mean ms':>9} {'success':>8}  shares")
    for a in rows:
        shares = ", ".join(f"{w} {v:.0%}" for w, v in a.shares.items())
        if not math.isfinite(a.seconds):
            shares += "  (a worker loaded to 1 or more: no steady state)"
        lines.append(
            f"{a.source:<10} {a.rule:<7} {a.weight:>6.3g} {a.seconds * 1e3:>9.1f} "
            f"{a.success:>8.4f}  {shares}"
        )
    return "\n".join(lines)


def command(s: Scenario, kind: str, as_json: bool) -> str:
    """What ``edgesim plan --strategy KIND`` prints; ``ValueError`` for a bad request."""
    from sim.mdi.rules import RULES

    if kind not in RULES:
        raise ValueError(f"unknown rule {kind!r}; choose one of {', '.join(RULES)}")
    if not any(p.strategy is not None for p in s.pipelines.values()):
        raise ValueError(f"no pipeline of {s.name} has a strategy (see docs/pa-mdi.md)")
    rows = allocate(s, kind)
    if as_json:
        finite = [r.seconds if math.isfinite(r.seconds) else None for r in rows]
        out = [asdict(r) | {"seconds": f} for r, f in zip(rows, finite, strict=True)]
        return json.dumps(out, indent=2, allow_nan=False)
    return show(rows, s.name)
