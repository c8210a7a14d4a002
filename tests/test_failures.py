"""Failures and fault tolerance: availability against theory, detection, policies, conservation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from analysis.stats import interval
from analysis.summary import metrics
from sim import Status, load, run
from sim.servable import single_points_of_failure
from tests.helpers import (
    SCENARIOS,
    assert_conserved,
    base,
    crash_recover,
    load_dict,
    remote,
    served_by,
)


@pytest.mark.slow
def test_availability_of_one_crash_recover_device() -> None:
    """Service availability and request success ratio match MTTF / (MTTF + MTTR) = 0.8."""
    reps = run(load_dict(served_by({"srv": crash_recover(20, 5)}, {"on": "srv"})))
    exact = 20 / (20 + 5)
    assert interval([r.faults.availability["cam"] for r in reps], 0.99).contains(exact)
    assert interval([metrics(r)["success_ratio"] for r in reps], 0.99).contains(exact)


@pytest.mark.slow
def test_availability_of_a_standby_pair() -> None:
    """1-out-of-2, independent repair: 1 − (1 − A)² = 0.96. Requests lose at most what
    reaches a failed device before it is declared down: per failure (two devices, one
    each 25 s) ≤ 2 heartbeats + 1 ms latency + 2 ms in transit and service, so the success
    ratio's 99 % interval must meet [0.96 − 2 / 25 × 23 ms, 0.96]."""
    raw = served_by(
        {"srv": crash_recover(20, 5), "backup": crash_recover(20, 5)},
        {"on": "srv", "standby": ["backup"]},
        fault_tolerance={"policy": "failover", "mode": "hot", "heartbeat": "10ms", "misses": 1},
    )
    reps = run(load_dict(raw))
    exact = 1 - (1 - 0.8) ** 2
    assert interval([r.faults.availability["cam"] for r in reps], 0.99).contains(exact)
    success = interval([metrics(r)["success_ratio"] for r in reps], 0.99)
    lost = 2 / 25 * (2 * 0.010 + 0.001 + 0.002)
    assert success.low <= exact and success.high >= exact - lost, (success, exact - lost)
    assert all(r.faults.failovers > 0 for r in reps)


@pytest.mark.slow
def test_replicate_success_matches_independent_replicas() -> None:
    """With k replicas a request fails only if all are down: success = 1 − Π(1 − Aᵢ) = 0.94."""
    raw = served_by(
        {"a": crash_recover(5, 5), "b": crash_recover(6, 4), "c": crash_recover(7, 3)},
        {"on": "a", "replicas": ["b", "c"]},
        fault_tolerance={"policy": "replicate"},
        horizon="1000s",
    )
    scenario = load_dict(raw)
    reps = run(scenario)
    exact = 1 - 0.5 * 0.4 * 0.3
    assert interval([metrics(r)["success_ratio"] for r in reps], 0.99).contains(exact)
    for r in reps:
        assert_conserved(scenario, r)  # a replicated request ends once


@pytest.mark.parametrize(
    ("heartbeat", "misses", "latency"), [(0.1, 3, 0.001), (0.25, 1, 0.02), (1.0, 2, 0.0)]
)
def test_detection_delay_lies_between_misses_and_misses_plus_one_periods(
    heartbeat: float, misses: int, latency: float
) -> None:
    """Every declared failure comes [misses, misses + 1] heartbeats (plus latency) after it."""
    raw = served_by(
        {"srv": crash_recover(10, 3), "backup": {}},
        {"on": "srv", "standby": ["backup"]},
        fault_tolerance={"policy": "failover", "heartbeat": heartbeat, "misses": misses},
        horizon="300s",
        replications=2,
    )
    for link in raw["links"]:
        link["latency"] = latency
    delays = [
        d.delay for r in run(load_dict(raw)) for d in r.faults.declarations if d.state == "down"
    ]
    assert len(delays) > 10
    assert min(delays) >= misses * heartbeat + latency - 1e-9
    assert max(delays) <= (misses + 1) * heartbeat + latency + 1e-9


def scheduled(
    policy: dict[str, Any], stage: dict[str, Any], devices: dict[str, Any] | None = None
) -> Any:
    """The server is down from 10 s to 20 s of a 30 s run; one request every 100 ms."""
    raw = served_by(
        devices or {"srv": {}},
        stage,
        fault_tolerance=policy,
        failures=[{"at": "10s", "target": "srv", "duration": "10s"}],
        horizon="30s",
        replications=1,
    )
    raw["warmup"] = 0
    raw["workload"][0]["arrivals"] = {"kind": "periodic", "rate": "10/s", "offset": "5ms"}
    scenario = load_dict(raw)
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)
    return rep


def test_policy_none_fails_requests_sent_during_the_outage() -> None:
    """Without fault tolerance every request arriving during the outage fails, the rest succeed."""
    rep = scheduled({"policy": "none"}, {"on": "srv"})
    src = rep.sources[0]
    down = (src.arrival >= 10) & (src.arrival < 20)
    assert (src.status[down] == Status.FAILED).all()
    assert (src.status[~down] == Status.OK).all()
    assert rep.faults.availability["cam"] == pytest.approx(2 / 3)


def test_retry_resends_after_timeout_until_attempts_run_out() -> None:
    """Retry every 1 s (3 attempts): only requests that cannot reach the repair in 2 s fail."""
    rep = scheduled({"policy": "retry", "timeout": "1s", "max_attempts": 3}, {"on": "srv"})
    src = rep.sources[0]
    late_enough = (src.arrival >= 18) & (src.arrival < 20)
    ok = src.status == Status.OK
    assert ok[late_enough].all(), "requests from 18 s on reach the server on a retry after 20 s"
    assert (src.status[(src.arrival >= 10) & (src.arrival < 17.9)] == Status.FAILED).all()
    assert src.latency[late_enough].max() > 1.0


@pytest.mark.parametrize("mode", ["hot", "cold"])
def test_failover_switches_after_detection_and_cold_pays_the_load(mode: str) -> None:
    """After detection requests go to the backup; a cold backup first loads the partition."""
    policy = {
        "policy": "failover",
        "mode": mode,
        "heartbeat": "100ms",
        "misses": 2,
        "switch_back": True,
    }
    stage = {"on": "srv", "standby": ["backup"], "load_time": "500ms"}
    rep = scheduled(policy, stage, {"srv": {}, "backup": {}})
    src = rep.sources[0]
    (down,) = [d for d in rep.faults.declarations if d.state == "down"]
    assert 10.2 <= down.time <= 10.3 + 0.001 + 1e-9
    after = (src.arrival > down.time + 0.01) & (src.arrival < 20)
    assert (src.status[after] == Status.OK).all()
    first = src.latency[after][0]
    assert (first > 0.4) if mode == "cold" else (first < 0.01)
    assert rep.faults.failovers == 2, "over to the backup and back after the repair"


def test_local_fallback_runs_the_stage_on_the_source() -> None:
    """With the server down the camera serves its own requests, more slowly."""
    model = {
        "input_bytes": 1000,
        "layers": [{"name": "x", "op": "conv", "flops": 1e8, "output_bytes": 10}],
    }
    raw = served_by({"srv": {"gflops": 100, "mem_bandwidth": 1e12}}, {"on": "srv"},
                    fault_tolerance={"policy": "local_fallback", "heartbeat": "100ms", "misses": 1},
                    failures=[{"at": "10s", "target": "srv", "duration": "10s"}],
                    horizon="30s", replications=1)  # fmt: skip
    raw["model"] = model
    del raw["pipelines"]["p"]["stages"][0]["service"]
    raw["devices"]["cam"] = {"gflops": 10, "mem_bandwidth": 1e12}
    (rep,) = run(load_dict(raw))
    src = rep.sources[0]
    during = (src.arrival > 10.3) & (src.arrival < 20)
    assert (src.status[during] == Status.OK).all()
    assert src.phases()["service0"][during] == pytest.approx(0.01)
    assert src.phases()["service0"][src.arrival < 10] == pytest.approx(0.001)


def test_repartition_moves_the_stage_after_reconfiguration() -> None:
    """A detected failure moves the stage to the surviving device after the reconfiguration."""
    rep = scheduled(
        {"policy": "repartition", "heartbeat": "100ms", "misses": 1, "reconfiguration": "1s"},
        {"on": "srv"},
        {"srv": {}, "spare": {}},
    )
    src = rep.sources[0]
    moved = (src.arrival > 11.5) & (src.arrival < 20)
    assert (src.status[moved] == Status.OK).all()
    assert rep.faults.moves == 2


def test_link_failure_drops_transfers_in_flight() -> None:
    """A link cut while a 1 s transfer is on it loses that request; later ones take another path."""
    raw = base(
        horizon="10s",
        model={
            "input_bytes": 1000,
            "layers": [{"name": "x", "op": "gemm", "flops": 0, "output_bytes": 0}],
        },
        devices={"a": {}, "b": {"gflops": 1, "mem_bandwidth": 1e12}, "r": {}},
        links=[
            {"ends": ["a", "b"], "bandwidth": 8000, "latency": 0},
            {"ends": ["a", "r"], "bandwidth": 8000, "latency": "10ms"},
            {"ends": ["r", "b"], "bandwidth": 8000, "latency": "10ms"},
        ],
        pipelines={"p": {"result_bytes": 0, "stages": [{"on": "b"}]}},
        failures=[{"at": "0.5s", "target": "a-b"}],
        workload=[
            {
                "name": "s",
                "at": "a",
                "pipeline": "p",
                "arrivals": {"kind": "trace", "times": [0, 2]},
            }
        ],
    )
    (rep,) = run(load_dict(raw))
    src = rep.sources[0]
    assert src.status.tolist() == [Status.FAILED, Status.OK]
    # around through r: 1 s + 10 ms per hop there, 10 ms per hop back with a zero-byte result
    assert src.latency[1] == pytest.approx(2.04)


def lossy(loss: Any, max_retransmits: int, horizon: str) -> Any:
    """One request a second to a zero-time stage over one 5 ms link; every lost attempt
    costs 100 ms. Requests never overlap, so each hop's losses are its loss law's draws."""
    link = {"ends": ["a", "b"], "bandwidth": 1e9, "latency": "5ms", "loss": loss,
            "retransmit_timeout": "100ms", "max_retransmits": max_retransmits}  # fmt: skip
    scenario = load_dict(remote([link], {"kind": "periodic", "rate": "1/s"}, horizon=horizon))
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)
    return rep.sources[0]


def wilson(k: int, n: int, confidence: float = 0.999) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
    return ci.low, ci.high


def test_attempts_lost_follow_the_geometric_law() -> None:
    """Loss 0.3 and ample retransmissions: a request's losses there and back, N, are the sum
    of two geometric counts, P(N = n) = (n + 1) 0.3ⁿ 0.7² (χ², p > 0.001, fixed seed); its
    latency is 10 ms + N × 100 ms exactly."""
    src = lossy(0.3, 30, "4000s")
    assert (src.status == Status.OK).all()
    assert src.latency == pytest.approx(0.010 + 0.1 * src.lost, abs=1e-9)
    counts = np.bincount(np.minimum(src.lost, 5), minlength=6)
    law = np.array([(n + 1) * 0.3**n * 0.7**2 for n in range(5)])
    law = np.append(law, 1 - law.sum())
    assert stats.chisquare(counts, law * counts.sum()).pvalue > 0.001, counts


def test_max_retransmits_fails_the_binomial_share() -> None:
    """Loss 0.5, one retransmission: a hop fails with 0.5², so a request with 1 − 0.75²
    = 0.4375, inside the 99.9 % Wilson interval of the failed share."""
    src = lossy(0.5, 1, "4000s")
    failed = int(np.count_nonzero(src.status == Status.FAILED))
    low, high = wilson(failed, len(src.ids))
    assert low <= 1 - 0.75**2 <= high, (failed, len(src.ids))
    assert set(src.lost[src.status == Status.OK].tolist()) == {0, 1, 2}


GE = {"kind": "gilbert_elliott", "p_good_bad": 0.05, "p_bad_good": 0.45, "loss_bad": 0.8}


def test_gilbert_elliott_loss_rate() -> None:
    """Bursty loss averages π_bad × loss_bad = 0.1 × 0.8 over attempts: inside a 99.9 %
    interval whose variance counts the chain's correlation between attempts,
    m(1 − m) + 2 π_good π_bad loss_bad² λ / (1 − λ) per attempt, λ = 1 − 0.05 − 0.45."""
    src = lossy(GE, 50, "20000s")
    assert src.latency == pytest.approx(0.010 + 0.1 * src.lost, abs=1e-9)
    lost = int(src.lost.sum())
    attempts = lost + 2 * len(src.ids)  # each request's two transfers got through once
    m, lam = 0.1 * 0.8, 1 - 0.05 - 0.45
    variance = m * (1 - m) + 2 * 0.9 * 0.1 * 0.8**2 * lam / (1 - lam)
    half = stats.norm.ppf(0.9995) * np.sqrt(variance / attempts)
    assert abs(lost / attempts - m) <= half, (lost, attempts, half)


def test_gilbert_elliott_losses_come_in_bursts() -> None:
    """A request that lost an attempt loses another with P(N ≥ 2 | N ≥ 1) = 0.463 under the
    chain (0.118 were the losses independent at the same mean): Wilson 99.9 %."""
    src = lossy(GE, 50, "3000s")
    # per hop, starting stationary: P(N1 >= 1) = m, P(N1 >= 2) = m (1 - p_bg) loss_bad
    m = 0.08
    one_hop = {0: 1 - m, 1: m - m * 0.55 * 0.8}
    p_one = 2 * one_hop[1] * one_hop[0]
    burst = 1 - p_one / (1 - one_hop[0] ** 2)
    hit = src.lost >= 1
    low, high = wilson(int(np.count_nonzero(src.lost[hit] >= 2)), int(np.count_nonzero(hit)))
    assert low <= burst <= high, (burst, low, high)


def test_resilience_check_names_the_single_point_of_failure() -> None:
    """One server: it and its link are single points; cross-connected servers leave none."""
    weak = single_points_of_failure(load(SCENARIOS / "edge_prune" / "one_endpoint_one_server.yaml"))
    assert {(w.kind, w.component) for w in weak} == {
        ("device", "server"),
        ("link", "endpoint-server"),
    }
    assert single_points_of_failure(load(SCENARIOS / "edge_prune" / "cross_connected.yaml")) == []


def test_overhead_of_replication_when_nothing_fails() -> None:
    """Replication costs energy (the replica computes too) and no latency under common numbers."""
    from analysis.compare import overhead
    from sim.variants import fault_free, without_policy

    raw = served_by(
        {
            "a": {"power_idle": 1, "power_busy": 5, **crash_recover(50, 5)},
            "b": {"power_idle": 1, "power_busy": 5},
        },
        {"on": "a", "replicas": ["b"]},
        fault_tolerance={"policy": "replicate"},
        horizon="200s",
        replications=3,
    )
    raw["devices"]["cam"] = {"power_idle": 1, "power_busy": 1}
    calm = fault_free(load_dict(raw))
    o = overhead(run(calm), run(without_policy(calm)))
    assert o["energy_per_inference"]["difference"] > 0
    assert o["latency_mean"]["difference"] <= 1e-12
    assert o["throughput"]["difference"] == pytest.approx(0.0)


def _injected(failure: dict[str, Any], load_time: str = "2s") -> Any:
    """The server under one scheduled fault from 10 s; one request every 100 ms, retries."""
    raw = served_by(
        {"srv": {}},
        {"on": "srv", "load_time": load_time},
        fault_tolerance={"policy": "retry", "timeout": "300ms", "max_attempts": 100},
        failures=[{"at": "10s", "target": "srv", **failure}],
        horizon="30s",
        replications=1,
    )
    raw["warmup"] = 0
    raw["workload"][0]["arrivals"] = {"kind": "periodic", "rate": "10/s", "offset": "5ms"}
    scenario = load_dict(raw)
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)
    return rep.sources[0]


def test_a_hang_keeps_the_partitions_a_crash_reloads_them() -> None:
    """Both take the server away for 5 s; after a crash it reloads for 2 s, after a hang it
    serves at once, so requests sent just after the repair wait only after the crash."""
    crash = _injected({"duration": "5s"})
    hang = _injected({"duration": "5s", "mode": "hang"})
    drop = _injected({"duration": "5s", "mode": "drop"})
    after = (crash.arrival >= 15) & (crash.arrival < 16.5)
    assert crash.latency[after].min() > 0.5
    for kept in (hang, drop):
        assert kept.latency[after].max() < 0.01
        assert (kept.status == Status.OK).all()
        assert kept.latency[(kept.arrival >= 10) & (kept.arrival < 14.5)].min() > 0.3


def test_slow_adds_its_delay_to_every_service_while_it_lasts() -> None:
    """A 'slow' fault of 40 ms from 10 s to 20 s: latency rises by exactly that inside."""
    src = _injected({"duration": "10s", "mode": "slow", "delay": "40ms"})
    inside = (src.arrival >= 10) & (src.arrival < 19.9)
    outside = (src.arrival < 9.9) | (src.arrival >= 20)
    assert np.median(src.latency[inside]) - np.median(src.latency[outside]) == pytest.approx(
        0.040, abs=1e-6
    )
    assert (src.status == Status.OK).all()


def test_a_link_failure_frees_its_medium_for_those_queued_and_after() -> None:
    """1000 B at 8 kbit/s holds the medium 1 s. Requests at 0, 0.2 and 0.4 s: one on the
    wire, two queued, all dropped by a crash at 0.5 s (repaired at 1.5 s). After it the
    medium is free and first-come first-served again: 2.0 s is sent at once, 2.5 s waits."""
    raw = base(
        horizon="10s",
        model={
            "input_bytes": 1000,
            "layers": [{"name": "x", "op": "gemm", "flops": 0, "output_bytes": 0}],
        },
        devices={"a": {}, "b": {"gflops": 1, "mem_bandwidth": 1e12}},
        links=[{"ends": ["a", "b"], "bandwidth": 8000, "latency": 0}],
        pipelines={"p": {"result_bytes": 0, "stages": [{"on": "b"}]}},
        failures=[{"at": "0.5s", "target": "a-b", "duration": "1s"}],
        workload=[
            {
                "name": "s",
                "at": "a",
                "pipeline": "p",
                "arrivals": {"kind": "trace", "times": [0, 0.2, 0.4, 2.0, 2.5]},
            }
        ],
    )
    (rep,) = run(load_dict(raw))
    src = rep.sources[0]
    assert src.status.tolist() == [Status.FAILED] * 3 + [Status.OK] * 2
    assert src.latency[3:].tolist() == pytest.approx([1.0, 1.5])
