"""Analytic figures of the features that change the queueing model: load, finite queues, loss."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from analysis.analytic import analyze, offered_load
from analysis.availability import components, undetected_fraction
from analysis.queueing import mg1_sojourn, mg1k, mmck
from analysis.stats import interval
from analysis.summary import metrics
from sim import run
from tests.helpers import load_dict, remote


def mm1(rate: float, mean: float, **device: Any) -> dict[str, Any]:
    """Poisson arrivals at ``rate`` to one device serving in exponential time of ``mean``."""
    return {
        "name": "mm1", "horizon": "100s",
        "devices": {"server": dict(device)},
        "pipelines": {"one": {"stages": [
            {"on": "server", "service": {"kind": "exponential", "mean": mean}}]}},
        "workload": [{"name": "clients", "at": "server", "pipeline": "one",
                      "arrivals": {"kind": "poisson", "rate": rate}}],
    }  # fmt: skip


def test_offered_load_is_not_capped_at_one() -> None:
    """An M/M/1 offered 120 requests/s of 10 ms work has ρ = 1.2 (and 0.6 on two slots)."""
    assert offered_load(load_dict(mm1(120, 0.01)))["server"] == pytest.approx(1.2)
    assert offered_load(load_dict(mm1(120, 0.01, slots=2)))["server"] == pytest.approx(0.6)


# -- finite queues -------------------------------------------------------------------


def mm1k_exact(rate: float, mean: float, capacity: int) -> tuple[float, float]:
    """M/M/1/K closed form: blocking ρᴷ(1 − ρ)/(1 − ρᴷ⁺¹) and the accepted requests'
    mean time in system L / (λ(1 − P_K)), L = ρ/(1 − ρ) − (K + 1)ρᴷ⁺¹/(1 − ρᴷ⁺¹)."""
    rho, k = rate * mean, capacity
    blocking = rho**k * (1 - rho) / (1 - rho ** (k + 1))
    in_system = rho / (1 - rho) - (k + 1) * rho ** (k + 1) / (1 - rho ** (k + 1))
    return blocking, in_system / (rate * (1 - blocking))


@pytest.mark.parametrize(("rate", "limit"), [(80, 3), (120, 5), (50, 0)])
def test_queue_limited_mm1_matches_the_closed_form(rate: float, limit: int) -> None:
    """M/M/1/K, also overloaded (ρ = 1.2): dropped fraction, throughput and mean latency
    agree with the closed form within 1 %."""
    figures = analyze(load_dict(mm1(rate, 0.01, queue_limit=limit)))
    blocking, sojourn = mm1k_exact(rate, 0.01, limit + 1)
    assert figures["dropped"]["value"] == pytest.approx(blocking, rel=0.01)
    assert figures["success_ratio"]["value"] == pytest.approx(1 - blocking, rel=0.01)
    assert figures["throughput"]["value"] == pytest.approx(rate * (1 - blocking), rel=0.01)
    assert figures["latency"]["mean"]["value"] == pytest.approx(sojourn, rel=0.01)
    assert figures["utilisation"]["server"]["value"] == pytest.approx(
        rate * (1 - blocking) * 0.01, rel=0.01
    )


def test_mg1k_with_exponential_service_is_mmck() -> None:
    """The M/G/1/K chain with c_s² = 1 gives the M/M/1/K law (two independent methods)."""
    for rate, capacity in ((50, 1), (80, 4), (150, 7)):
        chain, closed = mg1k(rate, 0.01, 1.0, capacity), mmck(rate, 0.01, 1, capacity)
        assert chain.blocking == pytest.approx(closed.blocking, rel=1e-9)
        assert chain.sojourn == pytest.approx(closed.sojourn, rel=1e-9)


def test_mg1k_tends_to_pollaczek_khinchine() -> None:
    """With a long queue and ρ < 1, M/G/1/K tends to the unlimited M/G/1 (P–K)."""
    for scv in (0.0, 0.25, 4.0):
        assert mg1k(60, 0.01, scv, 400).sojourn == pytest.approx(
            mg1_sojourn(60, 0.01, scv**0.5), rel=1e-6
        )


def simulated_queue(raw: dict[str, Any]) -> tuple[Any, Any]:
    """Dropped fraction and mean latency over fixed-seed replications, 99 % intervals."""
    reps = run(load_dict(raw))
    drops = [metrics(r)["requests"]["dropped"] / metrics(r)["requests"]["arrived"] for r in reps]
    means = [metrics(r)["latency"]["mean"] for r in reps]
    return interval(drops, 0.99), interval(means, 0.99)


@pytest.mark.parametrize(
    ("service", "rate"),
    [({"kind": "exponential", "mean": 0.01}, 90), ({"kind": "deterministic", "value": 0.01}, 110)],
)
def test_queue_limited_server_inside_the_simulation_interval(
    service: dict[str, Any], rate: float
) -> None:
    """M/M/1/K (exact) and M/D/1/K (the chain, exact for deterministic service): the
    analytic dropped fraction and mean latency lie in the simulation's 99 % intervals."""
    raw = mm1(rate, 0.01, queue_limit=3)
    raw["pipelines"]["one"]["stages"][0]["service"] = service
    raw.update(horizon="200s", warmup="5s", replications=6, seed=3)
    figures = analyze(load_dict(raw))
    drops, means = simulated_queue(raw)
    assert drops.contains(figures["dropped"]["value"])
    assert means.contains(figures["latency"]["mean"]["value"])


def test_queue_limit_without_a_method_is_not_modelled() -> None:
    """A queue limit on a priority device has no method here: no number, the feature named."""
    figures = analyze(load_dict(mm1(80, 0.01, queue_limit=3, discipline="priority")))
    for fig in (figures["latency"]["mean"], figures["dropped"], figures["throughput"]):
        assert fig["value"] is None
        assert fig["not_modelled"] == "queue_limit with discipline priority"
    assert figures["utilisation"]["server"]["value"] is None


# -- bounded retransmissions -----------------------------------------------------------


def lossy(
    loss: Any, retransmits: int, timeout: float = 0.05, rate: float = 20, **top: Any
) -> dict[str, Any]:
    """Zero-byte requests a → b over one lossy 1 ms link and back: only the network counts."""
    link = {"ends": ["a", "b"], "bandwidth": "1Gbps", "latency": "1ms", "loss": loss,
            "max_retransmits": retransmits, "retransmit_timeout": timeout}  # fmt: skip
    return remote([link], {"kind": "poisson", "rate": rate}, **top)


def retransmission_law(p: float, r: int, timeout: float) -> tuple[np.ndarray, np.ndarray]:
    """Latency of delivered requests, there and back: 2 ms + (N₁ + N₂) × timeout with
    P(Nᵢ = n | delivered) = pⁿ(1 − p) / (1 − p^(R+1)), as values and probabilities."""
    one = np.array([p**n * (1 - p) for n in range(r + 1)]) / (1 - p ** (r + 1))
    both = np.convolve(one, one)
    return 0.002 + timeout * np.arange(len(both)), both


def discrete_quantile(values: np.ndarray, probs: np.ndarray, q: float) -> float:
    return float(values[np.searchsorted(np.cumsum(probs), q - 1e-12)])


@pytest.mark.parametrize(("p", "r"), [(0.3, 2), (0.1, 0), (0.5, 4)])
def test_bounded_retransmissions_match_the_closed_form(p: float, r: int) -> None:
    """Success (1 − p^(R+1))² over the two hops; mean and percentiles of the delivered
    requests' latency from the exact law of N₁ + N₂ retransmissions, within 1 %."""
    figures = analyze(load_dict(lossy(p, r)))
    values, probs = retransmission_law(p, r, 0.05)
    success = (1 - p ** (r + 1)) ** 2
    assert figures["success_ratio"]["value"] == pytest.approx(success, rel=0.01)
    assert figures["transfer_failed"]["value"] == pytest.approx(1 - success, rel=0.01)
    assert figures["latency"]["mean"]["value"] == pytest.approx(np.dot(values, probs), rel=0.01)
    for q in ("p50", "p95", "p99"):
        exact = discrete_quantile(values, probs, int(q[1:]) / 100)
        assert figures["latency"][q]["value"] == pytest.approx(exact, rel=0.01)


def test_bursty_loss_with_equal_states_is_bernoulli_loss() -> None:
    """Gilbert–Elliott loss with the same loss in both states is independent loss."""
    burst = {"kind": "gilbert_elliott", "p_good_bad": 0.2, "p_bad_good": 0.3,
             "loss_bad": 0.3, "loss_good": 0.3}  # fmt: skip
    a, b = (analyze(load_dict(lossy(loss, 2))) for loss in (burst, 0.3))
    assert a["success_ratio"]["value"] == pytest.approx(b["success_ratio"]["value"], rel=1e-12)
    assert a["latency"]["p95"]["value"] == pytest.approx(b["latency"]["p95"]["value"], rel=1e-12)


BURSTY = {"kind": "gilbert_elliott", "p_good_bad": 0.1, "p_bad_good": 0.4, "loss_bad": 0.8}


@pytest.mark.parametrize(("loss", "rate", "timeout"), [(0.3, 20, 0.05), (BURSTY, 4, 0.005)])
def test_bounded_retransmissions_inside_the_simulation_interval(
    loss: Any, rate: float, timeout: float
) -> None:
    """Independent and bursty loss (transfers rarely overlapping, where the chain carried
    from transfer to transfer is exact): analytic success ratio and mean latency of
    delivered requests inside the simulation's 99 % intervals."""
    raw = lossy(loss, 2, timeout, rate, horizon="600s", replications=6, seed=5)
    figures = analyze(load_dict(raw))
    reps = run(load_dict(raw))
    ok = [metrics(r)["requests"]["ok"] / metrics(r)["requests"]["arrived"] for r in reps]
    assert interval(ok, 0.99).contains(figures["success_ratio"]["value"])
    means = interval([metrics(r)["latency"]["mean"] for r in reps], 0.99)
    assert means.contains(figures["latency"]["mean"]["value"])


# -- detection losses --------------------------------------------------------------------


def watched(ttr: dict[str, Any], **policy: Any) -> dict[str, Any]:
    """A failover pair whose primary fails every 100 s (exponential) and repairs by ``ttr``."""
    raw = remote(
        [{"ends": ["a", "b"], "bandwidth": "1Gbps"}, {"ends": ["a", "c"], "bandwidth": "1Gbps"}],
        {"kind": "poisson", "rate": 20},
        fault_tolerance={"policy": "failover", "heartbeat": 0.1, "misses": 2, **policy},
    )
    raw["devices"]["b"]["failure"] = {"ttf": {"kind": "exponential", "mean": 100}, "ttr": ttr}
    raw["pipelines"]["p"]["stages"][0]["standby"] = ["c"]
    return raw


def test_undetected_loss_uses_the_repair_law() -> None:
    """A deterministic 50 ms repair ends every outage before its 200–300 ms detection:
    each loses exactly 50 ms of requests, 0.05 / (100 + 0.05) of the time. An exponential
    repair of the same mean loses E[min(D, R)] instead."""
    raw = watched({"kind": "deterministic", "value": 0.05})
    spec = load_dict(raw)
    (part,) = components(spec)
    assert undetected_fraction(part, (0.2, 0.3), 0.0, (0.0, 10.0)) == pytest.approx(
        0.05 / 100.05, rel=1e-9
    )
    raw["devices"]["b"]["failure"]["ttr"] = {"kind": "exponential", "mean": 0.05}
    (expo,) = components(load_dict(raw))
    d = np.linspace(0.2, 0.3, 20001)
    exact = float(np.mean(0.05 * (1 - np.exp(-d / 0.05)))) / 100.05
    assert undetected_fraction(expo, (0.2, 0.3), 0.0, (0.0, 10.0)) == pytest.approx(exact, 1e-6)


def test_a_resend_after_detection_saves_the_request() -> None:
    """A re-send later than the longest detection delay finds the failover done: no loss;
    one half-way through the delay saves the requests sent in its first part."""
    raw = watched({"kind": "deterministic", "value": 5})
    (part,) = components(load_dict(raw))
    assert undetected_fraction(part, (0.2, 0.3), 0.31, (0.0, 10.0)) == 0.0
    assert undetected_fraction(part, (0.2, 0.3), 0.1, (0.0, 10.0)) == pytest.approx(
        0.15 / 105, rel=1e-9
    )


@pytest.mark.parametrize(("rho", "capacity"), [(10.0, 100), (50.0, 400), (2000.0, 50)])
def test_mg1k_stays_finite_far_beyond_saturation(rho: float, capacity: int) -> None:
    """Heavily overloaded finite queues: the level-crossing recursion grows like ρ^K, so it
    must not overflow. Exponential service agrees with M/M/1/K; deterministic service keeps
    the queue nearly full: blocking → 1 − 1/ρ, sojourn → K services."""
    exact = mmck(rho, 1.0, 1, capacity)
    expo = mg1k(rho, 1.0, 1.0, capacity)
    assert expo.blocking == pytest.approx(exact.blocking, rel=1e-6)
    assert expo.sojourn == pytest.approx(exact.sojourn, rel=1e-6)
    det = mg1k(rho, 1.0, 0.0, capacity)
    assert det.blocking == pytest.approx(1 - 1 / rho, rel=1e-3)
    assert det.sojourn == pytest.approx(capacity, rel=0.01)
