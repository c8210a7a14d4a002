"""The graph engine against exact results: fork-join, first of two, early exit, blocking.

Each test runs fixed seeds and asserts the exact value lies inside the 99 % interval
of what was simulated (Student's t over replications, or over independent requests).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from sim.graph.log import Event
from sim.loader import from_dict
from sim.records import Replication
from sim.world import simulate
from tests.helpers import ROOT


def graph(
    actors: dict[str, Any], arrivals: dict[str, Any], devices: list[str], **extra: Any
) -> dict[str, Any]:
    """A scenario of one graph with one source at ``src``, zero-latency links to every device."""
    names = ["src", *devices]
    return {
        "name": "g",
        "horizon": extra.pop("horizon", "200s"),
        "warmup": extra.pop("warmup", "10s"),
        "devices": {n: {} for n in names},
        "links": [{"ends": ["src", d], "bandwidth": "1Gbps"} for d in devices]
        + [
            {"ends": [a, b], "bandwidth": "1Gbps"}
            for i, a in enumerate(devices)
            for b in devices[i + 1 :]
        ],
        "graphs": {
            "g": {
                "input_bytes": 0,
                "result_bytes": 0,
                "sources": [{"name": "s", "at": "src", "arrivals": arrivals}],
                "actors": actors,
            }
        },
        **extra,
    }


def run(raw: dict[str, Any], seed: int) -> Replication:
    return simulate(from_dict(raw, file="test.yaml", base=ROOT), seed)


def measured_latency(rep: Replication) -> np.ndarray:
    src = rep.sources[0]
    ok = (src.arrival >= rep.start) & (src.status <= 1)
    return np.asarray(src.latency[ok])


def interval(values: np.ndarray | list[float], level: float = 0.99) -> tuple[float, float]:
    x = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def exp(mean: float) -> dict[str, Any]:
    return {"kind": "exponential", "mean": mean}


def test_fork_join_of_two_mm1_is_exact() -> None:
    """Two M/M/1 branches (λ = 5, μ = 10) joined by a barrier: (12 − ρ)/8 · 1/(μ − λ)."""
    lam, mu = 5.0, 10.0
    actors = {
        "left": {"on": "a", "service": exp(1 / mu)},
        "right": {"on": "b", "service": exp(1 / mu)},
        "join": {"on": "src", "after": ["left", "right"]},
    }
    raw = graph(actors, {"kind": "poisson", "rate": lam}, ["a", "b"], horizon="300s")
    means = [float(measured_latency(run(raw, seed)).mean()) for seed in range(8)]
    exact = (12 - lam / mu) / 8 / (mu - lam)
    low, high = interval(means)
    assert low <= exact <= high, (exact, low, high)
    assert not low <= 1 / (mu - lam) <= high  # one branch alone would be told apart


def test_first_of_two_replicas_is_the_minimum() -> None:
    """Exponential replicas at rates 10 and 20, never queueing: the minimum, mean 1/30 s."""
    actors = {
        "slow": {"on": "a", "service": exp(0.1)},
        "fast": {"on": "b", "service": exp(0.05)},
        "pick": {"on": "src", "after": ["slow", "fast"], "join": "first"},
    }
    rep = run(graph(actors, {"kind": "periodic", "rate": 0.5}, ["a", "b"], horizon="3000s"), 4)
    latency = measured_latency(rep)
    assert len(latency) > 1000
    low, high = interval(latency)
    assert low <= 1 / 30 <= high, (low, high)
    assert not low <= 1 / 20 <= high  # the fast replica alone would be told apart
    # the exact distribution: exponential with rate 30
    assert stats.kstest(latency, "expon", args=(0, 1 / 30)).pvalue > 0.01
    events = rep.graphs[0].events
    assert events is not None
    pick = rep.graphs[0].actors.index("pick")
    dropped = (events["actor"] == pick) & (events["event"] == Event.DROP)
    assert np.count_nonzero(dropped) >= len(latency)  # every losing copy discarded at the join


def test_early_exit_is_the_exact_mixture() -> None:
    """Deterministic 10 ms then 20 ms; leaving after the first with p = 0.3."""
    p = 0.3
    actors = {
        "head": {"on": "a", "service": {"kind": "deterministic", "value": "10ms"}, "exit": p},
        "tail": {
            "on": "b",
            "after": ["head"],
            "service": {"kind": "deterministic", "value": "20ms"},
        },
    }
    rep = run(graph(actors, {"kind": "periodic", "rate": 10}, ["a", "b"], horizon="300s"), 9)
    latency = measured_latency(rep)
    short = np.isclose(latency, 0.010, rtol=0, atol=1e-9)
    long = np.isclose(latency, 0.030, rtol=0, atol=1e-9)
    assert (short | long).all()  # only the mixture's two values
    n, k = len(latency), int(short.sum())
    ci = stats.binomtest(k, n).proportion_ci(0.99)
    assert ci.low <= p <= ci.high
    low, high = interval(latency)
    assert low <= p * 0.010 + (1 - p) * 0.030 <= high
    events = rep.graphs[0].events
    assert events is not None
    exits = events[(events["event"] == Event.EXIT) & (events["time"] >= rep.start)]
    assert abs(len(exits) - k) <= 2  # requests arriving before the warm-up ends differ


def blocking_throughput(mu1: float, mu2: float, buffer: int) -> float:
    """Saturated station 1, ``buffer`` places before station 2, blocking after service."""
    states = buffer + 3  # at station 2 (in service and waiting): 0 … buffer + 1; + blocked
    rho = mu1 / mu2
    pi = rho ** np.arange(states)
    pi /= pi.sum()
    return mu2 * (1 - pi[0])


def test_tandem_with_a_fifo_of_one_blocks_after_service() -> None:
    """Exponential stations μ1 = 10, μ2 = 8 with a FIFO of 1 between: the CTMC's throughput."""
    mu1, mu2 = 10.0, 8.0
    actors = {
        "first": {"on": "a", "service": exp(1 / mu1), "fifo": 1},
        "second": {"on": "b", "after": ["first"], "service": exp(1 / mu2), "fifo": 1},
    }
    raw = graph(actors, {"kind": "periodic", "rate": 30}, ["a", "b"], horizon="200s")
    rates = []
    for seed in range(6):
        rep = run(raw, seed)
        src = rep.sources[0]
        done = (src.status <= 1) & (src.completion >= rep.start)
        rates.append(np.count_nonzero(done) / rep.window)
    exact = blocking_throughput(mu1, mu2, 1)
    low, high = interval(rates)
    assert low <= exact <= high, (exact, low, high)
    for other in (0, 2, 50):  # one place fewer or more, or unbounded: told apart
        assert not low <= blocking_throughput(mu1, mu2, other) <= high


def k_of_two(slow: dict[str, Any], **extra: Any) -> Replication:
    actors = {
        "x": {"on": "a", "service": {"kind": "deterministic", "value": "5ms"}},
        "y": {"on": "b", "service": slow},
        "j": {
            "on": "src",
            "after": ["x", "y"],
            "join": {"kind": "k_of_n", "k": 2, "timeout": "100ms"},
        },
    }
    return run(
        graph(
            actors, {"kind": "periodic", "rate": 0.2}, ["a", "b"], horizon="60s", warmup=0, **extra
        ),
        1,
    )


def test_k_of_n_fires_at_its_timeout_with_what_came() -> None:
    """The second input takes 2 s: the join fires 100 ms after the first, with it alone."""
    rep = k_of_two({"kind": "deterministic", "value": "2s"})
    latency = measured_latency(rep)
    assert len(latency) == 12
    np.testing.assert_allclose(latency, 0.105, rtol=0, atol=1e-9)


def test_k_of_n_fires_with_what_came_when_the_rest_is_lost() -> None:
    """The second input's device is down for good: the join does not wait for its timeout."""
    rep = k_of_two({"kind": "deterministic", "value": "5ms"}, failures=[{"at": 0, "target": "b"}])
    latency = measured_latency(rep)
    assert len(latency) == 12
    np.testing.assert_allclose(latency, 0.005, rtol=0, atol=1e-9)
