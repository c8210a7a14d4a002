"""Per-station arithmetic of the analytic model: offered load, QNA variability, waits.

:func:`offer` and :func:`carry_variability` are the two halves of the fixed point
that :meth:`analysis.analytic.Analyzer.stations` iterates; :func:`finite` solves a
queue-limited station (M/M/c/K or M/G/1/K) or names the feature no method covers;
:func:`mean_wait` is Allen–Cunneen, or Cobham per priority class.
"""

from __future__ import annotations

import numpy as np

from analysis.analytic.network import MG1K_LIMIT, MMCK_LIMIT, Flow, Station, Visit
from analysis.queueing import (
    FiniteQueue,
    Retransmissions,
    bernoulli_retransmissions,
    departure_scv,
    erlang_c,
    ggc_wait,
    markov_retransmissions,
    mg1k,
    mmck,
)
from sim.spec import GilbertElliott, LinkSpec


def retransmissions_of(link: LinkSpec) -> Retransmissions | None:
    loss = link.loss
    if isinstance(loss, GilbertElliott):
        step = np.array([[1 - loss.p_good_bad, loss.p_good_bad],
                         [loss.p_bad_good, 1 - loss.p_bad_good]])  # fmt: skip
        states_loss = np.array([loss.loss_good, loss.loss_bad])
        return markov_retransmissions(step, states_loss, link.max_retransmits)
    if loss > 0:
        return bernoulli_retransmissions(loss, link.max_retransmits)
    return None


def offer(flows: list[Flow], stations: dict[str, Station]) -> None:
    """Each station's offered rate and service moments, from the flows that reach it."""
    for st in stations.values():
        st.rate = st.mean = st.second = 0.0
        st.classes = {}
    for flow in flows:
        reach = 1.0
        for v in flow.visits:
            v.reach = reach
            if v.station:
                st = stations[v.station]
                rate = flow.rate * reach * v.count
                st.rate += rate
                st.mean += rate * v.mean
                st.second += rate * v.second
                share = st.classes.setdefault(v.priority, [0.0, 0.0, 0.0])
                share[0] += rate
                share[1] += rate * v.mean
                share[2] += rate * v.second
                if st.queue is not None:
                    reach *= 1 - st.queue.blocking
            if v.retry is not None:
                reach *= v.retry.success
    for st in stations.values():
        if st.rate > 0:
            st.mean /= st.rate
            st.second /= st.rate


def carry_variability(flows: list[Flow], stations: dict[str, Station]) -> float:
    """One QNA pass: each station's arrival c² from the flows' departures upstream."""
    incoming: dict[str, float] = dict.fromkeys(stations, 0.0)
    for flow in flows:
        c = flow.scv
        for v in flow.visits:
            if not v.station:
                continue
            st = stations[v.station]
            p = flow.rate * v.reach * v.count / st.rate if st.rate > 0 else 0.0
            incoming[v.station] += p * c
            cd = departure_scv(min(st.carried, 0.999), st.ca2, st.cs2, st.servers)
            c = p * cd + 1 - p
    changed = 0.0
    for name, st in stations.items():
        if st.rate > 0:
            changed = max(changed, abs(incoming[name] - st.ca2))
            st.ca2 = incoming[name]
    return changed


def finite(st: Station) -> tuple[FiniteQueue | None, str | None]:
    """A queue-limited station's law, or the reason no method here covers it."""
    assert st.limit is not None
    capacity = st.servers + st.limit
    if st.rate <= 0:
        return FiniteQueue(0.0, st.mean, 0.0, 0.0, 0.0), None
    if st.priority:
        return None, "queue_limit with discipline priority"
    if abs(st.ca2 - 1) > 1e-6:
        return None, "queue_limit with non-Poisson arrivals"
    if abs(st.cs2 - 1) <= 1e-6:
        if capacity > MMCK_LIMIT:
            return None, f"queue_limit above {MMCK_LIMIT}"
        return mmck(st.rate, st.mean, st.servers, capacity), None
    if st.servers > 1:
        return None, "queue_limit with several slots and non-exponential service"
    if capacity > MG1K_LIMIT:
        return None, f"queue_limit above {MG1K_LIMIT} with non-exponential service"
    return mg1k(st.rate, st.mean, st.cs2, capacity), None


def mean_wait(st: Station, v: Visit) -> tuple[float, float]:
    """Mean wait and probability of waiting at a station without a queue limit."""
    offered = st.rate * st.mean
    p_wait = erlang_c(st.servers, offered)
    if not st.priority:
        return ggc_wait(st.rate, st.mean, st.cs2, st.ca2, st.servers), p_wait
    classes = st.classes  # Cobham, class by class
    w0 = sum(c[2] for c in classes.values()) / 2 / st.servers
    w0 *= (st.ca2 + st.cs2) / (1 + st.cs2)
    higher = sum(c[1] for p, c in classes.items() if p > v.priority) / st.servers
    mine = higher + classes[v.priority][1] / st.servers
    return w0 / ((1 - higher) * (1 - mine)), p_wait


def convolve(
    extra: np.ndarray, weight: np.ndarray, more: np.ndarray, chance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The law of the sum of two independent discrete delays, atoms below 1e-12 left out."""
    sums = (extra[:, None] + more[None, :]).ravel()
    probs = (weight[:, None] * chance[None, :]).ravel()
    keep = probs > 1e-12
    values, inverse = np.unique(np.round(sums[keep], 12), return_inverse=True)
    return values, np.bincount(inverse, weights=probs[keep])
