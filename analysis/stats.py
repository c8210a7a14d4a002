"""Confidence intervals over independent replications."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean over replications with its two-sided Student-t interval."""

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


def interval(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """The mean of ``values`` with its t-interval (NaN bounds for fewer than two values).

    NaN values (a replication with nothing to measure) are left out.
    """
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    n = len(data)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(data.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n, confidence)
    sem = float(data.std(ddof=1)) / math.sqrt(n)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sem
    return Estimate(mean, mean - half, mean + half, n, confidence)
