"""The analytic evaluator against the simulation, exact cases and approximations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.analytic import analyze
from analysis.stats import interval
from analysis.summary import metrics
from sim import load, run
from tests.helpers import SCENARIOS, crash_recover, load_dict, served_by, simulated


def sim_interval(name: str, source: str | None = None) -> Any:
    reps = simulated(name)
    if source is None:
        return interval([metrics(r)["latency"]["mean"] for r in reps], 0.99)
    return interval([metrics(r)["sources"][source]["latency_mean"] for r in reps], 0.99)


@pytest.mark.parametrize("name", ["mm1", "tandem", "md1"])
def test_exact_single_class_cases_inside_the_simulation_interval(name: str) -> None:
    """M/M/1, the Jackson tandem and M/D/1: the analytic mean lies in the 99 % interval."""
    value = analyze(load(SCENARIOS / "reference" / f"{name}.yaml"))["latency"]["mean"]["value"]
    assert sim_interval(name).contains(value)


def test_exact_priority_classes_inside_the_simulation_interval() -> None:
    """Cobham's per-class waits lie in each class's 99 % interval."""
    figures = analyze(load(SCENARIOS / "reference" / "priority.yaml"))["sources"]
    for source in ("urgent", "bulk"):
        assert sim_interval("priority", source).contains(figures[source]["latency_mean"]["value"])


def test_m_m_1_percentiles_are_the_exponential_ones() -> None:
    """M/M/1 sojourn is exponential: p50 = W ln 2, p95 = W ln 20, p99 = W ln 100."""
    lat = analyze(load(SCENARIOS / "reference" / "mm1.yaml"))["latency"]
    assert lat["p50"]["value"] == pytest.approx(0.02 * np.log(2))
    assert lat["p95"]["value"] == pytest.approx(0.02 * np.log(20))
    assert lat["p99"]["value"] == pytest.approx(0.02 * np.log(100))


def test_standby_pair_and_replicas_availability_inside_the_interval() -> None:
    """1-of-2 standby and k replicas: analytic availability inside the simulation's interval."""
    pair = served_by(
        {"srv": crash_recover(20, 5), "backup": crash_recover(20, 5)},
        {"on": "srv", "standby": ["backup"]},
        fault_tolerance={"policy": "failover", "mode": "hot", "heartbeat": "10ms", "misses": 1},
        horizon="1000s",
    )
    replicas = served_by(
        {"a": crash_recover(5, 5), "b": crash_recover(6, 4), "c": crash_recover(7, 3)},
        {"on": "a", "replicas": ["b", "c"]},
        fault_tolerance={"policy": "replicate"},
        horizon="500s",
    )
    for raw, exact in ((pair, 0.96), (replicas, 0.94)):
        spec = load_dict(raw)
        figures = analyze(spec)
        assert figures["availability"]["value"] == pytest.approx(exact)
        reps = run(spec)
        assert interval([r.faults.availability["cam"] for r in reps], 0.99).contains(exact)
        success = interval([metrics(r)["success_ratio"] for r in reps], 0.99)
        assert success.contains(figures["success_ratio"]["value"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.floats(1, 100), st.floats(0.1, 20)), min_size=1, max_size=3),
    st.integers(0, 2),
    st.floats(1.01, 10),
)
def test_more_failures_never_raise_availability(
    servers: list[tuple[float, float]], which: int, factor: float
) -> None:
    """Shortening any component's time to failure never raises the analytic availability."""

    def availability(ttfs: list[tuple[float, float]]) -> float:
        devices = {f"s{i}": crash_recover(ttf, ttr) for i, (ttf, ttr) in enumerate(ttfs)}
        standby = [f"s{i}" for i in range(1, len(ttfs))]
        policy = {"policy": "failover"} if standby else {"policy": "none"}
        stage = {"on": "s0", **({"standby": standby} if standby else {})}
        return analyze(load_dict(served_by(devices, stage, fault_tolerance=policy)))[
            "availability"
        ]["value"]

    worse = list(servers)
    i = which % len(worse)
    worse[i] = (worse[i][0] / factor, worse[i][1])
    assert availability(worse) <= availability(servers) + 1e-12


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(1, 20), min_size=1, max_size=3),
    st.integers(0, 2),
    st.floats(1.01, 5),
    st.floats(5, 60),
    st.sampled_from([None, 0.3, 1.0, 2.0]),
)
def test_faster_devices_never_raise_latency(
    gflops: list[float], which: int, factor: float, rate: float, noise_cv: float | None
) -> None:
    """Speeding up any device never raises the analytic mean latency (while stable)."""
    layers = [
        {"name": f"l{i}", "op": "conv", "flops": 2e8, "output_bytes": 1000}
        for i in range(len(gflops))
    ]

    def latency(rates: list[float]) -> float:
        devices = {
            f"d{i}": {"gflops": g, "mem_bandwidth": 1e12,
                      **({"service_noise": {"kind": "gamma", "mean": 1, "cv": noise_cv}} if noise_cv else {})}
            for i, g in enumerate(rates)
        }  # fmt: skip
        raw = {
            "name": "mono", "horizon": 10,
            "model": {"input_bytes": 1000, "layers": layers},
            "devices": devices,
            "links": [{"ends": [f"d{i}", f"d{i + 1}"], "bandwidth": 1e8} for i in range(len(rates) - 1)],
            "pipelines": {"p": {"stages": [{"layers": [f"l{i}", f"l{i}"], "on": f"d{i}"} for i in range(len(rates))]}},
            "workload": [{"name": "s", "at": "d0", "pipeline": "p", "arrivals": {"kind": "poisson", "rate": rate}}],
        }  # fmt: skip
        return float(analyze(load_dict(raw))["latency"]["mean"]["value"])

    faster = list(gflops)
    faster[which % len(faster)] *= factor
    assert latency(faster) <= latency(gflops) * (1 + 1e-9)


# Approximations, in the regimes where the literature says they hold (utilisation
# 0.3-0.9, coefficients of variation 0.5-2). Each case: (stations, servers, ρ, c_a, c_s,
# tolerance on the relative error of the mean latency). The tolerance is the error
# docs/analytic.md records for the case, with room for the shorter runs here.
APPROXIMATIONS = [
    (1, 1, 0.6, 0.5, 2.0, 0.15),  # Kingman with the KLB factor, smooth arrivals
    (1, 1, 0.9, 2.0, 2.0, 0.20),  # Kingman in heavy traffic, bursty arrivals
    (1, 2, 0.6, 0.5, 2.0, 0.15),  # Allen–Cunneen, two servers
    (2, 1, 0.6, 2.0, 0.5, 0.25),  # QNA tandem, bursty arrivals into smooth service (+16 %)
]


@pytest.mark.parametrize(("stations", "servers", "rho", "ca", "cs", "tolerance"), APPROXIMATIONS)
def test_approximations_within_their_stated_tolerance(
    stations: int, servers: int, rho: float, ca: float, cs: float, tolerance: float
) -> None:
    """Gamma arrivals (as a trace) and gamma service: analytic mean within the tolerance."""
    from bench.analytic_agreement import agreement

    analytic, simulated = agreement(rho, ca, cs, servers, stations, reps=3, horizon=200.0)
    assert abs(analytic - simulated.mean) / simulated.mean <= tolerance
