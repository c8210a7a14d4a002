"""The simulator against exact queueing results.

Each check runs the reference scenario's fixed-seed replications and asserts
that the exact value lies inside the 99 % Student-t interval of the
replication means, and that every arrival of every replication is accounted for.
The replicated checks are marked ``slow``.
"""

from __future__ import annotations

import pytest

from analysis.queueing import jackson_tandem_sojourn, mg1_sojourn, mm1_sojourn, priority_sojourn
from analysis.stats import Estimate, interval
from analysis.summary import metrics
from sim import load, run
from tests.helpers import SCENARIOS, assert_conserved, simulated

REFERENCE = ["mm1", "tandem", "md1", "priority", "deterministic", "saturated"]


def latency_interval(name: str, source: str | None = None) -> Estimate:
    reps = simulated(name)
    if source is None:
        return interval([metrics(r)["latency"]["mean"] for r in reps], 0.99)
    return interval([metrics(r)["sources"][source]["latency_mean"] for r in reps], 0.99)


@pytest.mark.slow
@pytest.mark.parametrize("name", REFERENCE)
def test_every_arrival_of_every_replication_is_accounted_for(name: str) -> None:
    """Each reference replication: every arrival ends once or is still in flight."""
    scenario = load(SCENARIOS / "reference" / f"{name}.yaml")
    for rep in simulated(name):
        assert_conserved(scenario, rep)


@pytest.mark.slow
def test_mm1() -> None:
    """M/M/1 at ρ = 0.5: mean sojourn 1 / (μ − λ) = 20 ms."""
    exact = mm1_sojourn(50, 100)
    assert latency_interval("mm1").contains(exact)


@pytest.mark.slow
def test_jackson_tandem() -> None:
    """Three M/M/1 stations in series: the sum of their sojourns, 91.7 ms."""
    exact = jackson_tandem_sojourn(40, [100, 80, 1 / 0.016667])
    assert latency_interval("tandem").contains(exact)


@pytest.mark.slow
def test_md1() -> None:
    """M/D/1 at ρ = 0.7: Pollaczek–Khinchine gives 21.67 ms."""
    exact = mg1_sojourn(70, 0.010, 0.0)
    assert latency_interval("md1").contains(exact)


@pytest.mark.slow
def test_priority_classes() -> None:
    """Non-preemptive two-class priority M/G/1: Cobham's 18.57 and 31.43 ms."""
    high, low = priority_sojourn([30, 30], [0.01, 0.01], [2e-4, 2e-4])
    assert latency_interval("priority", "urgent").contains(high)
    assert latency_interval("priority", "bulk").contains(low)
    assert high < low


def test_deterministic_pipeline_latency_and_throughput() -> None:
    """Nothing waits: every request takes exactly 120 ms and throughput is the frame rate."""
    scenario = load(SCENARIOS / "reference" / "deterministic.yaml")
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)
    src = rep.sources[0]
    assert src.latency == pytest.approx(0.120, abs=1e-9)
    # 600 frames arrive in 60 s; the last, at 59.9 s, is still in flight at the horizon.
    assert len(src.ids) == 599 and src.in_flight == 1
    assert metrics(rep)["throughput"] == pytest.approx(599 / 60)


def test_saturated_pipeline_runs_at_the_slowest_stage() -> None:
    """Offered more than the 50 ms stage can take, the pipeline completes 1 / 50 ms = 20/s."""
    scenario = load(SCENARIOS / "reference" / "saturated.yaml")
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)
    assert metrics(rep)["throughput"] == pytest.approx(20.0, abs=1 / rep.window)


def test_queueing_formulas_reject_unstable_queues() -> None:
    """A utilisation of 1 or more has no steady state."""
    with pytest.raises(ValueError, match="unstable"):
        mm1_sojourn(10, 10)
