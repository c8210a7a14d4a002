"""Closed-form queueing results the simulator is checked against.

All times in seconds, rates per second. Each function states its model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special


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


# -- finite queues ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FiniteQueue:
    """A station that holds at most ``capacity`` requests (in service and waiting).

    ``blocking`` is the fraction of arrivals turned away (PASTA: the time-average
    probability of a full station); ``sojourn`` and ``wait`` are means over the accepted
    requests (Little's law on the accepted rate λ(1 − P_K)); ``p_wait`` the probability
    that an accepted request waits; ``carried`` the utilisation λ(1 − P_K) E[S] / c.
    """

    blocking: float
    sojourn: float
    wait: float
    p_wait: float
    carried: float


def mmck(arrival_rate: float, mean_service: float, servers: int, capacity: int) -> FiniteQueue:
    """M/M/c/K exactly: p_n ∝ aⁿ/n! for n ≤ c, a^c/c! (a/c)^(n−c) above, a = λ E[S]."""
    if capacity < servers:
        raise ValueError(f"capacity {capacity} is below the {servers} servers")
    a = arrival_rate * mean_service
    n = np.arange(capacity + 1)
    log_a = math.log(a) if a > 0 else -math.inf
    with np.errstate(invalid="ignore"):
        log_p = np.where(
            n <= servers,
            n * log_a - special.gammaln(n + 1),
            servers * log_a
            - special.gammaln(servers + 1)
            + (n - servers) * (log_a - math.log(servers)),
        )
    log_p[0] = 0.0
    p = np.exp(log_p - log_p.max())
    return _finite(p / p.sum(), arrival_rate, mean_service, servers)


def mg1k(
    arrival_rate: float, mean_service: float, service_scv: float, capacity: int
) -> FiniteQueue:
    """M/G/1/K with the service time taken as the gamma law of its first two moments.

    The number left behind by departures is a Markov chain on 0..K−1 whose steps are the
    arrivals during one service, aⱼ (negative binomial for gamma service, Poisson for
    deterministic). Its stationary law follows from level crossing, with positive terms
    only: π_{j+1} a₀ = π₀ ā_{j+1} + Σ_{i=1..j} πᵢ ā_{j+2−i}, ā the tail sums of a. The
    time-average law is pₙ = πₙ / (π₀ + ρ) for n < K and p_K = 1 − 1 / (π₀ + ρ)
    (Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*, M/G/1/K).
    Exact when the service is exponential, gamma or deterministic; a two-moment
    approximation otherwise.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1 (got {capacity})")
    rho = arrival_rate * mean_service
    a = _arrivals_per_service(rho, service_scv, capacity)
    tail = 1 - np.concatenate([[0.0], np.cumsum(a)])  # tail[k] = P(A ≥ k)
    tail = np.maximum(tail, 0.0)
    if a[0] < 1e-250:  # no service ends without an arrival: the queue is always full
        return _finite(_always_full(rho, capacity), arrival_rate, mean_service, 1)
    pi = np.zeros(capacity)
    pi[0] = 1.0
    for j in range(capacity - 1):
        up = pi[0] * tail[j + 1] + float(np.dot(pi[1 : j + 1], tail[j + 1 : 1 : -1]))
        pi[j + 1] = up / a[0]
        if pi[j + 1] > 1e200:  # the recursion is linear: rescale before it overflows
            pi[: j + 2] /= pi[j + 1]
    pi /= pi.sum()
    norm = pi[0] + rho
    p = np.append(pi / norm, 1 - 1 / norm)
    return _finite(p, arrival_rate, mean_service, 1)


def _always_full(rho: float, capacity: int) -> np.ndarray:
    """The time-average law of a queue that refills at once: full but for 1/ρ of the time."""
    p = np.zeros(capacity + 1)
    p[capacity - 1], p[capacity] = 1 / rho, 1 - 1 / rho
    return p


def _arrivals_per_service(rho: float, scv: float, count: int) -> np.ndarray:
    """P(j Poisson arrivals during one service), j = 0..count−1, mean ρ, service c² = scv."""
    from scipy import stats

    j = np.arange(count)
    if scv <= 1e-12:
        return np.asarray(stats.poisson.pmf(j, rho), dtype=float)
    shape = 1 / scv  # gamma service: the count is negative binomial
    return np.asarray(stats.nbinom.pmf(j, shape, 1 / (1 + rho * scv)), dtype=float)


def _finite(p: np.ndarray, arrival_rate: float, mean_service: float, servers: int) -> FiniteQueue:
    blocking = float(p[-1])
    accepted = arrival_rate * (1 - blocking)
    if accepted <= 0:
        return FiniteQueue(blocking, mean_service, 0.0, 0.0, 0.0)
    in_system = float(np.dot(np.arange(len(p)), p))
    sojourn = in_system / accepted
    p_wait = float(p[servers:-1].sum() / (1 - blocking))
    carried = accepted * mean_service / servers
    return FiniteQueue(blocking, sojourn, max(0.0, sojourn - mean_service), p_wait, carried)


# -- bounded retransmissions -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Retransmissions:
    """How many retransmissions N a transfer over one lossy hop takes, at most R.

    ``delivered[n]`` = P(N = n and the transfer arrives), n = 0..R; the transfer fails
    with 1 − Σ delivered (all R + 1 attempts lost); ``attempts`` is the mean number of
    attempts, failed transfers included (the medium carries every one).
    """

    delivered: np.ndarray
    attempts: float

    @property
    def success(self) -> float:
        return float(self.delivered.sum())


def bernoulli_retransmissions(loss: float, retransmits: int) -> Retransmissions:
    """Independent losses p: P(N = n, delivered) = pⁿ (1 − p), success 1 − p^(R+1)."""
    n = np.arange(retransmits + 1)
    return Retransmissions(loss**n * (1 - loss), float(np.sum(loss**n)))


def markov_retransmissions(step: np.ndarray, loss: np.ndarray, retransmits: int) -> Retransmissions:
    """Losses modulated by a Markov chain stepped before every attempt (Gilbert–Elliott).

    ``step`` is the chain's transition matrix P and ``loss`` each state's loss
    probability, D = diag(loss). From a state law s before the first attempt, the first
    n attempts are lost with probability s (P D)ⁿ 1 and the (n+1)-th gets through with
    s (P D)ⁿ P (1 − loss). A transfer leaves the chain where its last attempt found it,
    so s is the stationary law of the transfer-to-transfer chain
    M = Σ_{n ≤ R} (P D)ⁿ P (I − D) + (P D)^(R+1): exact when the transfers over a hop
    do not overlap (overlapping ones interleave their attempts).
    """
    lost = step * loss  # P D: step, then be lost in the new state
    through = step @ (1 - loss)
    ends = np.zeros_like(step)
    power = np.eye(len(loss))
    for _ in range(retransmits + 1):
        ends += power @ step * (1 - loss)
        power = power @ lost
    ends += power
    values, vectors = np.linalg.eig(ends.T)
    start = np.real(vectors[:, np.argmin(np.abs(values - 1))])
    state = start / start.sum()
    delivered, attempts = [], 0.0
    for _ in range(retransmits + 1):
        attempts += state.sum()
        delivered.append(float(state @ through))
        state = state @ lost
    return Retransmissions(np.array(delivered), float(attempts))
