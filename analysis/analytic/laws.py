"""Latency laws on a grid: what a dataflow graph's structure combines.

A :class:`Law` is a deterministic ``shift`` plus a random part held as probability
masses at the points ``0, h, 2h, …, (n − 1) h`` of a grid (the random part rounded to
the nearest point), and the mass beyond the grid (``tail``). Shifts stay exact; they
are rounded only where two laws with different shifts are combined (an error of at
most h / 2). On this representation the operations of a graph are exact for the
rounded variables:

* series: the sum of independent parts, :func:`convolve` (by FFT);
* ``all``: the maximum of independent parts, F = Π Fᵢ (:func:`maximum`);
* ``first``: the minimum, S = Π Sᵢ (:func:`minimum`);
* ``k_of_n``: the k-th order statistic, P(at least k of n by t) by the Poisson-binomial
  recursion; with a timeout τ, fired at min(T₍ₖ₎, T₍₁₎ + τ) (:func:`order`);
* early exits: mixtures (:func:`mix`).

A service time's law comes from its distribution (:data:`CDFS`, one small function
per kind), or the gamma law of its two moments for a kind without one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from sim import distributions as d

Cdf = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True, slots=True, eq=False)
class Law:
    """shift + a random part with masses ``pmf`` at the points i h (``tail`` beyond)."""

    shift: float
    pmf: np.ndarray
    h: float
    cum: np.ndarray = field(init=False, repr=False)  # P(X ≤ shift + i h)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cum", np.cumsum(self.pmf))

    @property
    def tail(self) -> float:
        return max(0.0, 1.0 - float(self.cum[-1]))

    @property
    def mean(self) -> float:
        n = len(self.pmf)
        return self.shift + self.h * (float(np.dot(np.arange(n), self.pmf)) + self.tail * n)

    def cdf(self, x: float) -> float:
        """P(X ≤ x)."""
        k = math.floor((x - self.shift) / self.h + 1e-9)
        return float(self.cum[min(k, len(self.cum) - 1)]) if k >= 0 else 0.0

    def quantile(self, q: float) -> float:
        """The ``q`` quantile: at a point mass (a bin ten times its neighbours) its grid
        value; elsewhere interpolated across the bin, whose mass spreads over ±h/2."""
        cum = self.cum
        k = int(np.searchsorted(cum, q - 1e-12))
        if k >= len(self.pmf):
            return math.inf
        near = max(self.pmf[k - 1] if k else 0.0, self.pmf[k + 1] if k + 1 < len(cum) else 0.0)
        if self.pmf[k] > 10 * near:
            return self.shift + k * self.h
        below = cum[k - 1] if k else 0.0
        within = (q - below) / self.pmf[k] if self.pmf[k] > 0 else 0.5
        return self.shift + (k - 0.5 + within) * self.h

    def scaled(self, factor: float) -> Law:
        """The law of factor × X (its cumulative function resampled on the grid)."""
        n = len(self.pmf)
        cum = np.concatenate([[0.0], self.cum])  # P(X ≤ (i − ½) h) at i = 0 … n
        edges = (np.arange(n + 1) - 0.5) * self.h
        at = np.interp(edges / factor, edges, cum, left=0.0, right=cum[-1])
        return Law(self.shift * factor, np.diff(at), self.h)


def point(value: float, h: float, n: int) -> Law:
    """A deterministic value."""
    pmf = np.zeros(n)
    pmf[0] = 1.0
    return Law(value, pmf, h)


def from_cdf(cdf: Cdf, h: float, n: int, shift: float = 0.0) -> Law:
    """shift + a variable of cumulative function ``cdf``, rounded to the grid."""
    edges = (np.arange(n + 1) - 0.5) * h
    edges[0] = -math.inf
    at = np.clip(np.nan_to_num(cdf(np.maximum(edges, 0.0)), nan=0.0), 0.0, 1.0)
    at[0] = 0.0
    return Law(shift, np.maximum(np.diff(at), 0.0), h)


def gamma(mean: float, var: float, h: float, n: int, shift: float = 0.0) -> Law:
    """shift + the gamma law of ``mean`` and ``var`` (a point where ``var`` is 0)."""
    if var <= 1e-18 * max(mean, 1e-300) ** 2:
        return point(shift + mean, h, n)
    k, theta = mean**2 / var, var / mean
    return from_cdf(lambda t: special.gammainc(k, t / theta), h, n, shift)


def wait(p_wait: float, mean: float, h: float, n: int) -> Law:
    """0 with probability 1 − p_wait, else exponential: mean ``mean`` in all (exact for M/M/c)."""
    if p_wait <= 0 or mean <= 0:
        return point(0.0, h, n)
    scale = mean / p_wait
    return from_cdf(lambda t: 1 - p_wait * np.exp(-t / scale), h, n)


def service(dist: d.Distribution, factor: float, h: float, n: int) -> Law:
    """The law of factor × a draw of ``dist`` (a layer cost times a device's noise)."""
    if isinstance(dist, d.Deterministic):
        return point(factor * dist.value, h, n)
    make = CDFS.get(type(dist))
    if make is None:
        return gamma(factor * dist.mean, factor**2 * dist.variance, h, n)
    base = make(dist)
    return from_cdf(lambda t: base(t / factor), h, n)


def _exponential(x: d.Distribution) -> Cdf:
    assert isinstance(x, d.Exponential)
    return lambda t: -np.expm1(-t / x.mean)


def _uniform(x: d.Distribution) -> Cdf:
    assert isinstance(x, d.Uniform)
    width = max(x.high - x.low, 1e-300)
    return lambda t: np.clip((t - x.low) / width, 0.0, 1.0)


def _normal(x: d.Distribution) -> Cdf:
    assert isinstance(x, d.Normal)
    sd = max(x.std, 1e-300)
    return lambda t: special.ndtr((t - x.mean) / sd)  # below 0 counts as 0, as in the run


def _lognormal(x: d.Distribution) -> Cdf:
    assert isinstance(x, d.Lognormal)
    sigma = max(math.sqrt(math.log1p((x.std / x.mean) ** 2)), 1e-300)
    mu = math.log(x.mean) - sigma**2 / 2
    return lambda t: special.ndtr((np.log(np.maximum(t, 1e-300)) - mu) / sigma)


def _weibull(x: d.Distribution) -> Cdf:
    assert isinstance(x, d.Weibull)
    return lambda t: -np.expm1(-((t / x.lam) ** x.shape))


def _gamma(x: d.Distribution) -> Cdf:
    assert isinstance(x, d.Gamma)
    return lambda t: special.gammainc(x.k, t / x.theta)


def _empirical(x: d.Distribution) -> Cdf:
    assert isinstance(x, d.Empirical)
    data = np.sort(x.data)
    return lambda t: np.searchsorted(data, t, side="right") / len(data)


CDFS: dict[type, Callable[[d.Distribution], Cdf]] = {
    d.Exponential: _exponential,
    d.Uniform: _uniform,
    d.Normal: _normal,
    d.Lognormal: _lognormal,
    d.Weibull: _weibull,
    d.Gamma: _gamma,
    d.Empirical: _empirical,
}
"""Cumulative function of each distribution kind; a kind missing here is moment-matched."""


def convolve(a: Law, b: Law) -> Law:
    """The law of the sum of two independent variables."""
    for x, y in ((a, b), (b, a)):
        if x.pmf[0] >= 1 - 1e-15:  # a point: a shift
            return Law(x.shift + y.shift, y.pmf, a.h)
    n = len(a.pmf)
    pmf = np.fft.irfft(np.fft.rfft(a.pmf, 2 * n) * np.fft.rfft(b.pmf, 2 * n), 2 * n)[:n]
    return Law(a.shift + b.shift, np.clip(pmf, 0.0, None), a.h)


def _aligned(laws: Sequence[Law]) -> tuple[float, list[np.ndarray]]:
    """A common shift and each law's masses moved onto it (beyond the grid: the tail)."""
    base = min(law.shift for law in laws)
    out = []
    for law in laws:
        k = round((law.shift - base) / law.h)
        pmf = np.zeros_like(law.pmf)
        if k < len(pmf):
            pmf[k:] = law.pmf[: len(pmf) - k]
        out.append(pmf)
    return base, out


def _from_cum(base: float, cum: np.ndarray, h: float) -> Law:
    return Law(base, np.maximum(np.diff(np.concatenate([[0.0], cum])), 0.0), h)


def maximum(laws: Sequence[Law]) -> Law:
    """The law of the maximum of independent variables."""
    base, pmfs = _aligned(laws)
    return _from_cum(base, np.prod([np.cumsum(p) for p in pmfs], axis=0), laws[0].h)


def minimum(laws: Sequence[Law]) -> Law:
    """The law of the minimum of independent variables."""
    base, pmfs = _aligned(laws)
    survive = np.prod([1 - np.cumsum(p) for p in pmfs], axis=0)
    return _from_cum(base, 1 - survive, laws[0].h)


def order(laws: Sequence[Law], k: int, timeout: float | None = None) -> Law:
    """The k-th smallest of independent variables; with ``timeout`` τ, the time of
    min(T₍ₖ₎, T₍₁₎ + τ): P(not yet) = Π Sᵢ(t − τ) · P(fewer than k of them in (t − τ, t])."""
    h = laws[0].h
    base, pmfs = _aligned(laws)
    cums = [np.cumsum(p) for p in pmfs]
    if timeout is None:
        return _from_cum(base, 1 - _fewer(cums, k), h)
    lag = round(timeout / h)
    before = [np.concatenate([np.zeros(lag), c[: len(c) - lag]])[: len(c)] for c in cums]
    alive = np.prod([1 - b for b in before], axis=0)
    safe = [np.where(b < 1, 1 - b, 1.0) for b in before]
    inside = [np.clip((c - b) / s, 0.0, 1.0) for c, b, s in zip(cums, before, safe, strict=True)]
    return _from_cum(base, 1 - alive * _fewer(inside, k), h)


def _fewer(chances: Sequence[np.ndarray], k: int) -> np.ndarray:
    """P(fewer than k of independent events happen), each with its probability per point."""
    count = [np.ones_like(chances[0])] + [np.zeros_like(chances[0]) for _ in range(k - 1)]
    for p in chances:
        count = [count[0] * (1 - p)] + [count[j] * (1 - p) + count[j - 1] * p for j in range(1, k)]
    return np.asarray(np.sum(count, axis=0))


def mix(weights: Sequence[float], laws: Sequence[Law]) -> Law:
    """The mixture of ``laws`` with ``weights`` (which need not sum to 1: normalised)."""
    base, pmfs = _aligned(laws)
    w = np.asarray(weights, dtype=float)
    return Law(base, (w / w.sum()) @ np.array(pmfs), laws[0].h)
