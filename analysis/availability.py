"""Availability without simulation: components, service states and detection.

* A crash–recover component is up MTTF / (MTTF + MTTR) of the time in the long run
  (renewal theory; only the means matter).
* A crash–stop component, up at t = 0, is up on average (1/T)∫ S(t) dt over the
  measurement window, S being the survival function of its time to failure.
* A scheduled injection removes its overlap with the window.
* Components are independent, so a service state (which components are down) has the
  product probability; the service's availability sums the states in which it can be
  served (:func:`sim.servable.servable`). Up to ``EXACT_LIMIT`` failure-prone components
  every state is enumerated; beyond, states with at most ``TRUNCATE`` simultaneous
  failures are, and the probability left out is reported.
* Detection delay: a component watched by heartbeats spends part of each outage down
  but not yet declared down, U = min(D, R) of it, D the detection delay and R the
  repair time drawn from its own law. Renewal–reward over a failure cycle (MTTF +
  MTTR) gives the fraction of requests sent to it then and not saved by a re-send
  (:func:`undetected_fraction`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sim.distributions import (
    Deterministic,
    Distribution,
    Empirical,
    Exponential,
    Gamma,
    Lognormal,
    Normal,
    Uniform,
    Weibull,
)
from sim.spec import FailureSpec, Scenario

EXACT_LIMIT = 12
TRUNCATE = 2


@dataclass(frozen=True, slots=True)
class Component:
    """A failure-prone device or link and its long-run availability."""

    name: str
    kind: str  # "device" or "link"
    availability: float
    method: str
    mttf: float  # inf when it never fails at random
    mttr: float
    ttf: Distribution | None = None  # the failure law; None without random failures
    ttr: Distribution | None = None  # the repair law; None for crash–stop or no failures


def components(s: Scenario) -> list[Component]:
    """Every device and link that can fail, with its availability over the window."""
    out = []
    named = [(n, "device", d.failure) for n, d in s.devices.items()]
    named += [(link.name, "link", link.failure) for link in s.links]
    for name, kind, failure in named:
        aliases = {name}
        if kind == "link":
            link = next(x for x in s.links if x.name == name)
            aliases.add(f"{link.ends[1]}-{link.ends[0]}")
        injected = [f for f in s.failures if f.target in aliases and f.outage]
        if failure is None and not injected:
            continue
        a, method, mttf, mttr = _random(failure, s.warmup, s.horizon)
        lost = _injected(injected, s.warmup, s.horizon)
        if lost:
            a *= 1 - lost
            method += " × scheduled downtime"
        ttf, ttr = (failure.ttf, failure.ttr) if failure is not None else (None, None)
        out.append(Component(name, kind, a, method, mttf, mttr, ttf, ttr))
    return out


def _random(
    failure: FailureSpec | None, start: float, end: float
) -> tuple[float, str, float, float]:
    from scipy import integrate

    if failure is None:
        return 1.0, "no random failures", math.inf, 0.0
    mttf = failure.ttf.mean
    if failure.ttr is None:
        survival = _survival(failure.ttf)
        area, _ = integrate.quad(survival, start, end, limit=200)
        return area / (end - start), "crash–stop: mean survival over the window", mttf, math.inf
    mttr = failure.ttr.mean
    return mttf / (mttf + mttr), "renewal: MTTF / (MTTF + MTTR)", mttf, mttr


def _injected(injections: list, start: float, end: float) -> float:  # type: ignore[type-arg]
    down = 0.0
    for f in injections:
        stop = end if f.duration is None else f.at + f.duration
        down += max(0.0, min(stop, end) - max(f.at, start))
    return min(1.0, down / (end - start))


def _survival(dist: object) -> object:
    """The survival function P(X > t) of a scenario distribution."""
    from scipy import stats

    if isinstance(dist, Exponential):
        return stats.expon(scale=dist.mean).sf
    if isinstance(dist, Weibull):
        return stats.weibull_min(dist.shape, scale=dist.lam).sf
    if isinstance(dist, Gamma):
        return stats.gamma(dist.k, scale=dist.theta).sf
    if isinstance(dist, Lognormal):
        sigma2 = math.log1p((dist.std / dist.mean) ** 2)
        return stats.lognorm(math.sqrt(sigma2), scale=math.exp(math.log(dist.mean) - sigma2 / 2)).sf
    if isinstance(dist, Uniform):
        return stats.uniform(dist.low, dist.high - dist.low).sf
    if isinstance(dist, Normal):
        return stats.norm(dist.mean, dist.std).sf
    if isinstance(dist, Deterministic):
        return lambda t: 1.0 if t < dist.value else 0.0
    if isinstance(dist, Empirical):
        data = np.sort(dist.data)
        return lambda t: 1.0 - np.searchsorted(data, t, side="right") / len(data)
    raise TypeError(f"no survival function for {dist!r}")


def states(parts: list[Component]) -> Iterator[tuple[frozenset[str], float]]:
    """(down components, probability) of every service state considered."""
    n = len(parts)
    limit = n if n <= EXACT_LIMIT else TRUNCATE
    for k in range(limit + 1):
        for down in itertools.combinations(range(n), k):
            p = 1.0
            for i, c in enumerate(parts):
                p *= (1 - c.availability) if i in down else c.availability
            yield frozenset(parts[i].name for i in down), p


def undetected_fraction(
    c: Component, detection: tuple[float, float], resend: float, window: tuple[float, float]
) -> float:
    """Fraction of requests sent to ``c`` while it is down but not yet declared down.

    An outage stays undetected for U = min(D, R): D the detection delay, uniform over
    ``detection`` (the failure's phase within a heartbeat period), R the repair time with
    its own law (not an exponential stand-in). A request sent u into U is lost unless
    a re-send ``resend`` later finds the outage detected or over, so each outage loses
    E[(U − s)⁺] = E_D ∫_s^D S_R(t) dt of sending time. Renewal–reward: a crash–recover
    component loses that once per cycle of MTTF + MTTR; a crash–stop one once, if it
    fails within the ``window``.
    """
    from scipy import integrate

    if c.ttf is None or c.mttf <= 0 or detection[1] <= 0:
        return 0.0
    if c.ttr is None:  # crash–stop: one outage, detected after D, if it comes in the window
        start, end = window
        sf = _survival(c.ttf)
        fails = float(sf(start)) - float(sf(end))  # type: ignore[operator]
        return fails * max(0.0, sum(detection) / 2 - resend) / (end - start)
    survival = _survival(c.ttr)
    nodes, weights = np.polynomial.legendre.leggauss(8)
    lo, hi = detection
    lost = 0.0
    for x, w in zip(nodes, weights, strict=True):
        d = lo + (hi - lo) * (x + 1) / 2
        if d > resend:
            lost += w / 2 * integrate.quad(survival, resend, d, limit=100)[0]
    return lost / (c.mttf + c.mttr)
