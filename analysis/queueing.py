"""Closed-form queueing results the simulator is checked against.

All times in seconds, rates per second. Each function states its model.
"""

from __future__ import annotations

import math
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


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c (Erlang C); ``offered`` = λ / μ < c."""
    _stable(offered / servers)
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= offered / k
        total += term
    last = term * offered / servers / (1 - offered / servers)
    return last / (total + last)


def ggc_wait(
    arrival_rate: float,
    mean_service: float,
    service_scv: float,
    arrival_scv: float,
    servers: int = 1,
) -> float:
    """Mean wait in queue of G/G/c by Allen–Cunneen: W_q(M/M/c) × (c_a² + c_s²) / 2 × g.

    With one server this is Kingman's formula; with Poisson arrivals and one server it is
    Pollaczek–Khinchine exactly; with exponential service and Poisson arrivals it is
    Erlang C exactly. ``g`` is the Krämer–Langenbach-Belz factor for smooth arrivals.
    """
    offered = arrival_rate * mean_service
    if offered == 0:
        return 0.0
    mmc = erlang_c(servers, offered) * mean_service / (servers - offered)
    return float(
        mmc * (arrival_scv + service_scv) / 2 * klb(offered / servers, arrival_scv, service_scv)
    )


def klb(utilisation: float, arrival_scv: float, service_scv: float) -> float:
    """Krämer–Langenbach-Belz correction to Kingman for smooth arrivals (c_a² < 1).

    g = exp(−2 (1 − ρ)(1 − c_a²)² / (3 ρ (c_a² + c_s²))); 1 for c_a² ≥ 1, where the
    plain formula is kept. It shrinks the wait of nearly regular arrivals at light
    load, where Kingman's heavy-traffic form overestimates it.
    """
    if arrival_scv >= 1 or utilisation <= 0 or arrival_scv + service_scv <= 0:
        return 1.0
    gap = (1 - utilisation) * (1 - arrival_scv) ** 2
    return math.exp(-2 * gap / (3 * utilisation * (arrival_scv + service_scv)))


def departure_scv(
    utilisation: float, arrival_scv: float, service_scv: float, servers: int = 1
) -> float:
    """Squared coefficient of variation of a G/G/c station's departures (Whitt's QNA linking).

    QNA gives c_d² = 1 + (1 − ρ²)(c_a² − 1) + ρ² (c_s² − 1) / √c, which is
    c_a² + ρ² ((c_s² − 1)/√c − (c_a² − 1)). Here a station is given no credit for
    smoothing its departures below its arrivals' variability: c_d² never drops
    below c_a². That keeps the model monotone, as the real system is: with plain QNA
    a faster station passes on burstier departures and can raise the predicted
    latency downstream. It is exact for Jackson networks and conservative for
    low-variability service.
    """
    rho2 = utilisation**2
    gain = (service_scv - 1) / servers**0.5 - (arrival_scv - 1)
    return float(arrival_scv + rho2 * max(0.0, gain))


def wait_variance(mean_wait: float, p_wait: float) -> float:
    """Variance of the wait if it is 0 with probability 1 − p and exponential otherwise.

    Exact for M/M/c; a two-moment stand-in elsewhere, used only for percentiles.
    """
    if p_wait <= 0 or mean_wait <= 0:
        return 0.0
    return 2 * mean_wait**2 / p_wait - mean_wait**2
