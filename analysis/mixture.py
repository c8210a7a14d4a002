"""Latency laws as mixtures: what percentiles and deadline misses are read from.

Each part of a mixture is (weight, shift, mean, variance): a deterministic shift plus a
gamma law fitted by its mean and variance (a point mass where the variance is zero).
The analytic model makes one part per (service state, flow, number of
retransmissions), weighted by the state's probability and the delivered rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import special

Part = tuple[float, float, float, float]  # weight, shift, mean, variance


def _rows(parts: Iterable[Part]) -> np.ndarray:
    return np.array([p for p in parts if p[0] > 0], dtype=float).reshape(-1, 4)


def mixture_mean(parts: Iterable[Part]) -> float:
    """The weighted mean of shift + mean over the parts; NaN without weight."""
    rows = _rows(parts)
    if not len(rows):
        return math.nan
    w, shift, mean, _ = rows.T
    return float(np.dot(w, shift + mean) / w.sum())


def mixture_cdf(parts: Iterable[Part], x: float) -> float:
    """P(latency ≤ x); NaN without weight."""
    rows = _rows(parts)
    return _cdf(rows, x) if len(rows) else math.nan


def _cdf(rows: np.ndarray, x: float) -> float:
    w, shift, mean, var = rows.T
    point = var <= 1e-18 * np.maximum(mean, 1e-300) ** 2
    out = np.where(point, (x >= shift + mean).astype(float), 0.0)
    spread = ~point & np.isfinite(mean)
    if spread.any():
        m, v = mean[spread], var[spread]
        out[spread] = special.gammainc(m**2 / v, np.maximum(x - shift[spread], 0.0) * m / v)
    return float(np.dot(w, out) / w.sum())


def quantile(parts: Iterable[Part], q: float) -> float:
    """The ``q`` quantile of the mixture; inf when a part is unbounded, NaN without weight."""
    rows = _rows(parts)
    if not len(rows):
        return math.nan
    _, shift, mean, var = rows.T
    if not np.isfinite(mean).all():
        return math.inf

    def gap(x: float) -> float:
        return _cdf(rows, x) - q

    if gap(0.0) >= 0:
        return 0.0
    point = var <= 1e-18 * np.maximum(mean, 1e-300) ** 2
    for m in np.sort(shift[point] + mean[point]):  # a point mass's step may straddle q
        if gap(m) >= 0 and gap(m * (1 - 1e-12)) < 0:
            return float(m)
    hi = float(np.max(shift + mean + 10 * np.sqrt(var))) + 1e-9
    from scipy import optimize

    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-10))
