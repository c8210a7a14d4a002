"""Closed-form queueing results the simulator is checked against.

All times in seconds, rates per second. Each function states its model.
"""

from __future__ import annotations

from collections.abc import Sequence


def mm1_sojourn(arrival_rate: float, service_rate: float) -> float:
    """M/M/1 mean time in system, 1 / (μ − λ); requires λ < μ."""
    _stable(arrival_rate / service_rate)
    return 1.0 / (service_rate - arrival_rate)


def mg1_sojourn(arrival_rate: float, mean_service: float, service_cv: float) -> float:
    """M/G/1 mean time in system by Pollaczek–Khinchine.

    W = E[S] + λ E[S²] / (2 (1 − ρ)), with E[S²] = E[S]² (1 + cv²).
    M/D/1 is cv = 0, M/M/1 is cv = 1.
    """
    rho = arrival_rate * mean_service
    _stable(rho)
    second_moment = mean_service**2 * (1 + service_cv**2)
    return mean_service + arrival_rate * second_moment / (2 * (1 - rho))


def jackson_tandem_sojourn(arrival_rate: float, service_rates: Sequence[float]) -> float:
    """Mean time through M/M/1 queues in series (Jackson): the sum of each queue's 1 / (μᵢ − λ)."""
    return sum(mm1_sojourn(arrival_rate, mu) for mu in service_rates)


def priority_sojourn(
    arrival_rates: Sequence[float], mean_services: Sequence[float], second_moments: Sequence[float]
) -> list[float]:
    """Non-preemptive priority M/G/1 (Cobham): mean time in system of each class.

    Classes are listed highest priority first. With W₀ = Σ λᵢ E[Sᵢ²] / 2 and
    σₖ = Σ_{i ≤ k} ρᵢ, class k waits W₀ / ((1 − σₖ₋₁)(1 − σₖ)) in queue.
    """
    w0 = sum(lam * s2 for lam, s2 in zip(arrival_rates, second_moments, strict=True)) / 2
    out = []
    sigma = 0.0
    for lam, s in zip(arrival_rates, mean_services, strict=True):
        before = sigma
        sigma += lam * s
        _stable(sigma)
        out.append(w0 / ((1 - before) * (1 - sigma)) + s)
    return out


def _stable(rho: float) -> None:
    if not 0 <= rho < 1:
        raise ValueError(f"the queue is unstable: utilisation must be below 1 (got {rho:.4g})")
