"""Honest statistics: intervals inside each figure's range, in-flight requests counted,
an overloaded system called unstable, and the warnings a careful reader needs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.stats import fraction, nonnegative, proportion, wilson
from analysis.summary import metrics, summary
from sim import Scenario, run
from tests.helpers import base, load_dict


def mm1(rate: float, mean: float, **top: Any) -> Scenario:
    """Poisson arrivals at ``rate`` per second, exponential service of ``mean`` seconds."""
    raw = base(
        horizon=top.pop("horizon", "60s"),
        warmup="5s",
        replications=top.pop("replications", 2),
        pipelines={"p": {"stages": [{"on": "dev", "service": {"kind": "exponential",
                                                              "mean": mean}}]}},
        **top,
    )  # fmt: skip
    raw["workload"][0]["arrivals"] = {"kind": "poisson", "rate": rate}
    return load_dict(raw)


def codes(tree: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(w["code"], w["component"]): w for w in tree["warnings"]}


def test_overloaded_mm1_is_unstable_and_withholds_latency() -> None:
    """ρ = 1.2: the summary says unstable at the one device, shows no latency mean (only a
    transient value), and warns that requests were left in flight."""
    s = mm1(60, 0.02)
    tree = summary(run(s), s)
    assert tree["load"]["stable"] is False and tree["load"]["bottleneck"] == "dev"
    assert tree["load"]["offered"]["dev"] == pytest.approx(1.2)
    found = codes(tree)
    assert found[("unstable", "dev")]["value"] == pytest.approx(1.2)
    assert ("in_flight_at_horizon", "src") in found
    for cell in (
        tree["latency"]["mean"],
        tree["latency"]["p95"],
        tree["sources"]["src"]["latency_mean"],
    ):
        assert cell["mean"] is None and cell["ci95"] is None
        assert cell["transient"]["mean"] > 0
    assert ("high_utilisation", "dev") not in found  # said once, as unstable


def test_an_overloaded_device_with_a_queue_limit_is_stable_and_drops() -> None:
    """ρ = 1.2 into a queue of 5 places: the queue cannot grow, so the latency is a
    steady-state figure (shown, near M/M/1/5's); the warning is 'overloaded', not
    'unstable', and about a sixth of the arrivals are dropped."""
    from analysis.queueing import mmck

    s = mm1(60, 0.02, devices={"dev": {"queue_limit": 4}})
    tree = summary(run(s), s)
    assert tree["load"]["stable"] is True and tree["load"]["bounded"] == ["dev"]
    found = codes(tree)
    assert ("overloaded", "dev") in found and ("unstable", "dev") not in found
    exact = mmck(60, 0.02, 1, 5)
    assert tree["latency"]["mean"]["mean"] == pytest.approx(exact.sojourn, rel=0.1)
    req = tree["requests"]
    dropped = req["dropped"]["mean"] / req["arrived"]["mean"]
    assert dropped == pytest.approx(exact.blocking, rel=0.15)


def test_energy_per_inference_is_null_when_a_device_has_no_power_figures() -> None:
    """One device with power figures and one without: no partial total passed off as the
    energy per inference; with both known it is their sum over completed requests."""
    raw = base(devices={"a": {"power_idle": 1.0, "power_busy": 3.0}, "b": {}},
               links=[{"ends": ["a", "b"], "bandwidth": 1e9}])  # fmt: skip
    raw["pipelines"]["p"]["stages"] = [
        {"on": d, "service": {"kind": "deterministic", "value": "10ms"}} for d in ("a", "b")
    ]
    raw["workload"][0]["at"] = "a"
    tree = summary(run(load_dict(raw)))
    assert tree["devices"]["b"]["energy"]["mean"] is None
    assert tree["energy_per_inference"]["mean"] is None
    raw["devices"]["b"] = {"power_idle": 2.0, "power_busy": 4.0}
    tree = summary(run(load_dict(raw)))
    total = tree["devices"]["a"]["energy"]["mean"] + tree["devices"]["b"]["energy"]["mean"]
    completed = tree["requests"]["ok"]["mean"] + tree["requests"]["late"]["mean"]
    assert tree["energy_per_inference"]["mean"] == pytest.approx(total / completed, rel=1e-9)


def test_overloaded_success_ratio_counts_requests_in_flight() -> None:
    """Periodic 20/s against 60 ms of work: 20 arrivals per second of the window, of which at
    most 1 / 1.2 can complete, so the success ratio is at most 1 / 1.2, not 1."""
    raw = base(horizon="30s", warmup="5s")
    raw["pipelines"]["p"]["stages"][0]["service"]["value"] = "60ms"
    s = load_dict(raw)
    tree = summary(run(s), s)
    window = 25
    assert tree["requests"]["arrived"]["mean"] == pytest.approx(20 * window, abs=1)
    assert tree["requests"]["in_flight"]["mean"] > 0.1 * 20 * window
    low, high = tree["success_ratio"]["ci95"]
    assert tree["success_ratio"]["mean"] <= 1 / 1.2 + 0.01
    assert 0 <= low <= tree["success_ratio"]["mean"] <= high <= 1


def test_a_request_in_flight_before_its_deadline_is_not_yet_judged() -> None:
    """The horizon falls 5 ms into the service of the request that arrived at 10 s: with a
    50 ms deadline it may still be on time and counts neither way (success 1, miss 0); with
    no deadline it counts against success; with a 1 ms deadline it is already a miss."""

    def judged(deadline: str | None) -> dict[str, Any]:
        raw = base(horizon=10.005, warmup="1s")
        if deadline is not None:
            raw["workload"][0]["deadline"] = deadline
        (rep,) = run(load_dict(raw))
        assert sum(s.in_flight_measured for s in rep.sources) == 1
        return metrics(rep)

    finished = 9 * 20
    on_time = judged("50ms")
    assert on_time["success_ratio"] == 1.0 and on_time["deadline_miss"] == 0.0
    assert on_time["deadline_miss"].total == finished
    assert judged(None)["success_ratio"] == pytest.approx(finished / (finished + 1))
    late = judged("1ms")
    assert late["deadline_miss"] == 1.0 and late["deadline_miss"].total == finished + 1


def test_stable_mm1_is_stable_with_a_latency_mean() -> None:
    """ρ = 0.5: stable, a finite latency mean inside its interval, no unstable warning."""
    s = mm1(25, 0.02, horizon="200s", replications=5)
    tree = summary(run(s), s)
    assert tree["load"]["stable"] is True
    cell = tree["latency"]["mean"]
    assert "transient" not in cell and cell["ci95"][0] <= 0.04 <= cell["ci95"][1]
    assert not any(w["code"] == "unstable" for w in tree["warnings"])


def test_high_utilisation_is_a_warning_but_not_unstable() -> None:
    """9.5 ms of deterministic work every 10 ms: ρ = 0.95, stable, but flagged as busy."""
    raw = base(horizon="20s", warmup="1s")
    raw["pipelines"]["p"]["stages"][0]["service"]["value"] = "9.5ms"
    raw["workload"][0]["arrivals"]["rate"] = "100/s"
    s = load_dict(raw)
    tree = summary(run(s), s)
    assert tree["load"]["stable"] is True
    busy = codes(tree)[("high_utilisation", "dev")]
    assert busy["value"] == pytest.approx(0.95, abs=0.01)
    assert tree["latency"]["mean"]["mean"] == pytest.approx(0.0095)


def test_few_short_replications_warn_of_a_wide_interval() -> None:
    """Two 10 s replications of an M/M/1 at ρ = 0.8 pin the mean latency down poorly: the
    95 % half-width exceeds 10 % of the mean and is reported."""
    s = mm1(40, 0.02, horizon="10s", replications=2)
    tree = summary(run(s), s)
    lat = tree["latency"]["mean"]
    assert (lat["ci95"][1] - lat["ci95"][0]) / 2 > 0.1 * lat["mean"]
    assert ("wide_interval", None) in codes(tree)
    assert any(w["figure"] == "latency mean" for w in tree["warnings"])


def test_without_a_deadline_deadline_figures_are_null() -> None:
    """No deadline: deadline miss is null overall and per source; with one it is a figure."""
    none = summary(run(load_dict(base(horizon="5s", warmup="1s"))))
    assert none["deadline_miss"] == {"mean": None, "ci95": None}
    assert none["sources"]["src"]["deadline_miss"]["mean"] is None
    raw = base(horizon="5s", warmup="1s")
    raw["workload"][0]["deadline"] = "5ms"  # every 10 ms request is late
    timed = summary(run(load_dict(raw)))
    assert timed["deadline_miss"]["mean"] == pytest.approx(1.0)
    assert timed["success_ratio"]["mean"] == pytest.approx(0.0)


def test_all_successes_give_an_interval_below_one_not_a_point() -> None:
    """Every request ok in every replication: success 1 with an interval [1 − δ, 1] no
    narrower than the Wilson interval of the pooled counts, inside [0, 1]."""
    raw = base(horizon="10s", warmup="1s", replications=3)
    tree = summary(run(load_dict(raw)))
    low, high = tree["success_ratio"]["ci95"]
    ok, arrived = tree["requests"]["ok"]["mean"], tree["requests"]["arrived"]["mean"]
    assert ok == arrived and tree["success_ratio"]["mean"] == 1.0
    pooled_low, _ = wilson(round(3 * ok), round(3 * arrived))
    assert 0.98 < low <= pooled_low < 1 and high == 1.0


def test_wilson_stays_in_range_at_the_extremes() -> None:
    """Wilson bounds of 0/n and n/n lie in [0, 1] and exclude neither end wrongly."""
    assert wilson(100, 100) == (pytest.approx(0.963, abs=1e-3), 1.0)
    low, high = wilson(0, 100)
    assert low == 0.0 and high == pytest.approx(0.037, abs=1e-3)


@given(
    st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=8),
)
def test_a_nonnegative_interval_never_goes_below_zero(values: list[float]) -> None:
    """Latency, throughput and energy intervals are clipped at 0 and contain their mean."""
    est = nonnegative(values)
    if est.n >= 2:
        assert 0 <= est.low <= est.mean <= est.high


@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(1, 500)).map(lambda t: (min(t), t[1])),
        min_size=1,
        max_size=8,
    )
)
def test_a_proportion_interval_stays_in_zero_one(counts: list[tuple[int, int]]) -> None:
    """Whatever the counts, the interval of a ratio lies in [0, 1] and contains the mean."""
    est = proportion([h for h, _ in counts], [t for _, t in counts])
    assert 0 <= est.low <= est.mean <= est.high <= 1


@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=8))
def test_a_time_fraction_interval_stays_in_zero_one(values: list[float]) -> None:
    """Availability and utilisation intervals lie in [0, 1] and contain their mean."""
    est = fraction(values)
    assert 0 <= est.low <= est.mean <= est.high <= 1


def test_one_long_outage_stays_inside_its_interval() -> None:
    """Nine replications up 99.99 % of the time and one up 30 %: the interval holds the mean."""
    est = fraction([0.9999] * 9 + [0.3])
    assert est.mean == pytest.approx(0.92991)
    assert est.low <= est.mean <= est.high <= 1


def test_proportion_interval_covers_the_true_ratio() -> None:
    """Five replications of 200 requests each, success probability 0.98: the interval holds
    0.98 in at least 90 % of 400 seeded trials (nominal 95 %)."""
    rng = np.random.default_rng(10)
    hits = rng.binomial(200, 0.98, size=(400, 5))
    covered = [proportion(list(h), [200] * 5).contains(0.98) for h in hits]
    assert np.mean(covered) >= 0.9
