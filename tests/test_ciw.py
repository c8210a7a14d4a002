"""edgesim against Ciw, a queueing-network simulator nobody here wrote.

Random tandem and priority networks are written both as an edgesim scenario and as
a Ciw network; the two simulators' mean sojourn times must agree within their
combined 99 % intervals over independent replications (marked ``slow``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import ciw
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.stats import Estimate, interval
from analysis.summary import metrics
from sim import run
from tests.helpers import base, load_dict

REPS = 4
HORIZON = 200.0
WARMUP = 20.0
# A statistical comparison at 99 %: its examples are fixed (derandomised, no example
# database), so it is a fixed-seed test. Exploring new networks on every run would make
# a 1-in-100 false alarm a matter of time rather than a sign of a bug.
SETTINGS = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def agree(a: Estimate, b: Estimate) -> bool:
    return abs(a.mean - b.mean) <= math.hypot(a.half_width, b.half_width)


def ciw_dist(kind: str, mean: float) -> Any:
    if kind == "exponential":
        return ciw.dists.Exponential(rate=1 / mean)
    if kind == "deterministic":
        return ciw.dists.Deterministic(value=mean)
    return ciw.dists.Gamma(shape=4.0, scale=mean / 4.0)  # cv 0.5


def edgesim_dist(kind: str, mean: float) -> dict[str, Any]:
    if kind == "exponential":
        return {"kind": "exponential", "mean": mean}
    if kind == "deterministic":
        return {"kind": "deterministic", "value": mean}
    return {"kind": "gamma", "shape": 4.0, "scale": mean / 4.0}


def ciw_sojourns(network: Any, seed: int, last_node: int) -> dict[str, float]:
    """Mean sojourn per customer class of customers arriving after the warm-up."""
    ciw.seed(seed)
    q = ciw.Simulation(network)
    q.simulate_until_max_time(HORIZON)
    first: dict[int, float] = {}
    done: dict[int, tuple[str, float]] = {}
    for r in q.get_all_records():
        first[r.id_number] = min(first.get(r.id_number, math.inf), r.arrival_date)
        if r.node == last_node:
            done[r.id_number] = (r.original_customer_class, r.exit_date)
    per: dict[str, list[float]] = defaultdict(list)
    for cid, (cls, exit_date) in done.items():
        if first[cid] >= WARMUP:
            per[cls].append(exit_date - first[cid])
    return {cls: float(np.mean(v)) for cls, v in per.items()}


@pytest.mark.slow
@SETTINGS
@given(
    st.floats(5, 30),
    st.lists(st.tuples(st.floats(0.3, 0.8), st.sampled_from(["exponential", "deterministic", "gamma"])),
             min_size=1, max_size=3),
)  # fmt: skip
def test_tandem_mean_sojourn_agrees_with_ciw(
    rate: float, stations: list[tuple[float, str]]
) -> None:
    """A Poisson stream through 1-3 single-server stations of random load and service law."""
    means = [rho / rate for rho, _ in stations]
    kinds = [k for _, k in stations]
    k = len(stations)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=rate)] + [None] * (k - 1),
        service_distributions=[ciw_dist(kd, m) for kd, m in zip(kinds, means, strict=True)],
        routing=[[1.0 if j == i + 1 else 0.0 for j in range(k)] for i in range(k)],
        number_of_servers=[1] * k,
    )
    theirs = interval([ciw_sojourns(network, 1000 + r, k)["Customer"] for r in range(REPS)], 0.99)
    raw = base(
        horizon=HORIZON, warmup=WARMUP, replications=REPS, seed=7,
        devices={f"s{i}": {} for i in range(k)},
        links=[{"ends": [f"s{i}", f"s{i + 1}"], "bandwidth": 1e9} for i in range(k - 1)],
        pipelines={"p": {"result_bytes": 0, "stages": [
            {"on": f"s{i}", "service": edgesim_dist(kd, m)} for i, (kd, m) in enumerate(zip(kinds, means, strict=True))
        ]}},
        workload=[{"name": "in", "at": "s0", "pipeline": "p", "arrivals": {"kind": "poisson", "rate": rate}}],
    )  # fmt: skip
    ours = interval([metrics(r)["latency"]["mean"] for r in run(load_dict(raw))], 0.99)
    assert agree(ours, theirs), (ours, theirs)


@pytest.mark.slow
@SETTINGS
@given(st.floats(0.2, 0.45), st.floats(0.2, 0.45), st.sampled_from(["exponential", "gamma"]))
def test_priority_classes_agree_with_ciw(rho_high: float, rho_low: float, kind: str) -> None:
    """Two Poisson classes at one non-preemptive priority server, each class's mean sojourn."""
    mean = 0.01
    rates = (rho_high / mean, rho_low / mean)
    network = ciw.create_network(
        arrival_distributions={
            f"Class {i}": [ciw.dists.Exponential(rate=r)] for i, r in enumerate(rates)
        },
        service_distributions={f"Class {i}": [ciw_dist(kind, mean)] for i in range(2)},
        number_of_servers=[1],
        priority_classes={"Class 0": 0, "Class 1": 1},
    )
    runs = [ciw_sojourns(network, 2000 + r, 1) for r in range(REPS)]
    raw = base(
        horizon=HORIZON, warmup=WARMUP, replications=REPS, seed=8,
        devices={"s": {"discipline": "priority"}},
        pipelines={"p": {"result_bytes": 0, "stages": [{"on": "s", "service": edgesim_dist(kind, mean)}]}},
        workload=[
            {"name": "high", "at": "s", "pipeline": "p", "priority": 1, "arrivals": {"kind": "poisson", "rate": rates[0]}},
            {"name": "low", "at": "s", "pipeline": "p", "priority": 0, "arrivals": {"kind": "poisson", "rate": rates[1]}},
        ],
    )  # fmt: skip
    reps = [metrics(r)["sources"] for r in run(load_dict(raw))]
    for ours_name, theirs_name in (("high", "Class 0"), ("low", "Class 1")):
        ours = interval([m[ours_name]["latency_mean"] for m in reps], 0.99)
        theirs = interval([c[theirs_name] for c in runs], 0.99)
        assert agree(ours, theirs), (ours_name, ours, theirs)
