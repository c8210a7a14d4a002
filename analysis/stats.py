"""Confidence intervals over independent replications, each within its quantity's range.

Replications are the independent unit: requests inside one replication are
correlated (they share queues), so most intervals come from the spread of the
per-replication values. Three kinds of figure, three methods (docs/results.md):

* :func:`nonnegative` (latency, throughput, energy, counts): the Student-t
  interval of the replication means, its lower bound clipped at 0;
* :func:`proportion` (success ratio, deadline miss: counts of requests): with
  one replication, the Wilson score interval of the counts; with several, a
  Student-t interval of the per-replication ratios on the logit scale, mapped
  back, and never narrower than the Wilson interval of the pooled counts;
* :func:`fraction` (availability, utilisation: fractions of time): the
  Student-t interval on the logit scale when every replication lies strictly
  inside (0, 1), otherwise the plain one clipped to [0, 1].

:func:`interval` is the plain Student-t interval, for signed figures such as
the paired differences of a comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean over replications with its two-sided interval (NaN bounds when there is none)."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """The mean of ``values`` with its t-interval (NaN bounds for fewer than two values).

    NaN values (a replication with nothing to measure) are left out.
    """
    data = _finite(values)
    n = len(data)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(data.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n, confidence)
    half = _t(n, confidence) * float(data.std(ddof=1)) / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n, confidence)


def nonnegative(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """The t-interval of a figure that cannot be negative, its lower bound clipped at 0."""
    est = interval(values, confidence)
    return est if not est.low < 0 else replace(est, low=0.0)


def fraction(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """The interval of a fraction of time in [0, 1]: the Student-t interval of the mean,
    clipped to [0, 1].

    Not a logit transform: one replication with a long outage among many near 1 moves the
    mean far more than the mean logit, and an interval around the mean logit can then
    exclude the mean it is printed beside.
    """
    est = interval(_finite(values).tolist(), confidence)
    if est.n < 2:
        return est
    return replace(est, low=max(0.0, est.low), high=min(1.0, est.high))


def proportion(
    hits: Sequence[int], totals: Sequence[int], confidence: float = CONFIDENCE
) -> Estimate:
    """The interval of a ratio of counts (``hits`` out of ``totals`` per replication).

    Replications with nothing counted are left out. The mean is the mean of the
    per-replication ratios. With several replications the logit-t interval uses
    the ratios (x + ½) / (n + 1), finite when a replication has all or none; it
    is widened to the pooled counts' Wilson interval (the binomial floor: all
    successes in every replication give [1 − δ, 1], not [1, 1]) and to the mean.
    """
    pairs = [(h, t) for h, t in zip(hits, totals, strict=True) if t > 0]
    if not pairs:
        return Estimate(math.nan, math.nan, math.nan, 0, confidence)
    x = np.array([h for h, _ in pairs], dtype=float)
    n = np.array([t for _, t in pairs], dtype=float)
    mean = float(np.mean(x / n))
    low, high = wilson(int(x.sum()), int(n.sum()), confidence)
    if len(pairs) > 1:
        logit = interval(_logit((x + 0.5) / (n + 1)).tolist(), confidence)
        low = min(low, _expit(logit.low), mean)
        high = max(high, _expit(logit.high), mean)
    return Estimate(mean, low, high, len(pairs), confidence)


def wilson(hits: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of ``hits`` successes in ``total`` trials, inside [0, 1]."""
    if total <= 0:
        return math.nan, math.nan
    from scipy import special

    z = float(special.ndtri((1 + confidence) / 2))
    p = hits / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    low = 0.0 if hits == 0 else max(0.0, centre - half)  # exact at the ends, free of rounding
    high = 1.0 if hits == total else min(1.0, centre + half)
    return low, high


def _finite(values: Sequence[float]) -> np.ndarray:
    data = np.asarray(values, dtype=float)
    return np.asarray(data[~np.isnan(data)])


def _t(n: int, confidence: float) -> float:
    from scipy import special

    return float(special.stdtrit(n - 1, (1 + confidence) / 2))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(p / (1 - p)))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
