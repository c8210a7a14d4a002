"""Workload: when each source's requests arrive.

Each source yields absolute arrival times from its own random stream:

* ``periodic``: frame k at offset + k / rate, plus a jitter draw (never before
  the previous frame): a camera;
* ``poisson``: exponential gaps of mean 1 / rate;
* ``trace``: recorded times, inline or from a one-column file.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sim.spec import Periodic, Poisson, SourceSpec


def arrival_times(source: SourceSpec, rng: np.random.Generator) -> Iterator[float]:
    """The source's arrival times in order, endless unless a trace or ``count`` ends them."""
    times = _times(source, rng)
    if source.count is None:
        return times
    return (t for _, t in zip(range(source.count), times, strict=False))


def _times(source: SourceSpec, rng: np.random.Generator) -> Iterator[float]:
    arrivals = source.arrivals
    if isinstance(arrivals, Poisson):
        return _poisson(arrivals, rng)
    if isinstance(arrivals, Periodic):
        return _periodic(arrivals, rng)
    return iter(arrivals.sorted_times)


def _poisson(arrivals: Poisson, rng: np.random.Generator) -> Iterator[float]:
    t = 0.0
    mean = 1.0 / arrivals.rate
    while True:
        for gap in rng.exponential(mean, 512).tolist():
            t += gap
            yield t


def _periodic(arrivals: Periodic, rng: np.random.Generator) -> Iterator[float]:
    period = 1.0 / arrivals.rate
    jitter = arrivals.jitter.sampler(rng) if arrivals.jitter else None
    k = 0
    last = 0.0
    while True:
        t = arrivals.offset + k * period
        if jitter is not None:
            t = max(last, t + jitter())
        last = t
        yield t
        k += 1
