"""RoCoIn's joint choice: how many students K, and which devices run which student.

An :class:`Instance` is what the choice needs for one K: per device n and student k the
time ``times[n, k]`` of the input's transfer to n, student k's compute on n and its
features' transfer back to the aggregator (deterministic: the means); per device its
failure probability ``p[n]`` (its unavailability) and whether student k fits its memory.

A grouping gives group k's time T_k = the time of its fastest live member (RoCoIn's
min over the group), undefined when all its members fail (probability ∏ p); the
aggregator answers with the groups that answered, so a request's latency is
L = max over the answering groups of T_k, and it is answered unless every group fails.
:func:`evaluate` gives the law of L exactly (devices fail independently): its mean
given an answer, its quantile, and the probability that **every** group answers,
∏_k (1 − ∏_{n ∈ G_k} p_n).

The choice minimises the mean (or the 95th percentile) of L subject to memory, a
minimum group size f + 1, and optionally a target probability that every group
answers. :func:`exact` enumerates every grouping (set partitions into K blocks, each
block given each student: for N devices and K students the Stirling number S(N, K)
times K!; use it up to about 9 devices); :func:`heuristic` deals the devices, fastest
first, into the groups in snake order and then moves or swaps single devices while
that lowers the objective, counting first how far a grouping is from feasible (groups
short of f + 1, devices a student does not fit, the target missed), so that the search
walks out of an infeasible deal (a local search: its gap to :func:`exact` is measured by
``bench/rocoin_study.py --gap`` and tabled in docs/rocoin.md). :func:`choose` runs
either over the K of the ensembles at hand.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

Groups = tuple[tuple[int, ...], ...]
"""Group k: the indices of the devices that run student k."""
QUANTILE = 0.95


@dataclass(frozen=True, slots=True)
class Instance:
    """One K's data: times (N × K, seconds), failure probabilities, memory fits (N × K)."""

    names: tuple[str, ...]
    times: np.ndarray
    p: np.ndarray
    fits: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(N devices, K students)."""
        n, k = self.times.shape
        return int(n), int(k)


@dataclass(frozen=True, slots=True)
class Score:
    """The law of a grouping's latency: its mean and quantile given an answer, and the
    probabilities that every group, and that some group, answers."""

    mean: float
    p95: float
    every: float
    some: float

    def objective(self, name: str) -> float:
        return self.p95 if name == "p95" else self.mean


@dataclass(frozen=True, slots=True)
class Rules:
    """What a grouping must meet: the minimum group size f + 1 and the target that every
    group answers; and what it minimises (``mean`` or ``p95``)."""

    min_group: int = 1
    target: float | None = None
    objective: str = "mean"


@dataclass(frozen=True, slots=True)
class Plan:
    """A chosen grouping, its score and how it was found."""

    groups: Groups
    score: Score
    method: str

    @property
    def students(self) -> int:
        return len(self.groups)

    def named(self, names: Sequence[str]) -> list[list[str]]:
        return [[names[n] for n in g] for g in self.groups]


def evaluate(inst: Instance, groups: Groups) -> Score:
    """The exact law of the latency of ``groups`` (group k runs student k)."""
    points, masses, fails = [], [], []
    for k, members in enumerate(groups):
        t = inst.times[list(members), k]
        p = inst.p[list(members)]
        order = np.argsort(t, kind="stable")
        t, p = t[order], p[order]
        before = np.concatenate(([1.0], np.cumprod(p)[:-1]))
        points.append(t)
        masses.append(before * (1 - p))
        fails.append(float(np.prod(p)))
    xs = np.unique(np.concatenate(points))
    cdf = np.ones_like(xs)
    for t, m, q in zip(points, masses, fails, strict=True):
        below = np.searchsorted(t, xs, side="right")  # the group's points at or below x
        cdf *= q + np.concatenate(([0.0], np.cumsum(m)))[below]
    none = math.prod(fails)
    some = 1 - none
    mass = np.diff(np.concatenate(([none], cdf)))
    every = math.prod(1 - q for q in fails)
    if some <= 0:
        return Score(math.inf, math.inf, every, some)
    mean = float((xs * mass).sum() / some)
    reach = (cdf - none) / some
    p95 = float(xs[min(int(np.searchsorted(reach, QUANTILE - 1e-12)), len(xs) - 1)])
    return Score(mean, p95, every, some)


def _key(inst: Instance, groups: Groups, rules: Rules) -> tuple[float, float]:
    """Smaller is better: how far from feasible (0: feasible), then the objective."""
    short = sum(max(0, rules.min_group - len(g)) for g in groups)
    misfits = sum(not inst.fits[n, k] for k, g in enumerate(groups) for n in g)
    score = evaluate(inst, groups)
    below = max(0.0, rules.target - score.every) if rules.target is not None else 0.0
    return (short + misfits + below, score.objective(rules.objective))


def partitions(items: Sequence[int], blocks: int, least: int) -> Iterator[list[list[int]]]:
    """Every partition of ``items`` into ``blocks`` unlabelled blocks of at least ``least``."""
    if blocks == 0:
        if not items:
            yield []
        return
    if len(items) < blocks * least:
        return
    first, rest = items[0], list(items[1:])
    for size in range(least - 1, len(rest) + 1):
        for others in itertools.combinations(rest, size):
            left = [x for x in rest if x not in others]
            for tail in partitions(left, blocks - 1, least):
                yield [[first, *others], *tail]


def exact(inst: Instance, rules: Rules) -> Plan | None:
    """The best feasible grouping by enumeration, or None when none is feasible."""
    n, k = inst.size
    best: tuple[tuple[float, float], Groups] | None = None
    for blocks in partitions(list(range(n)), k, rules.min_group):
        for order in itertools.permutations(blocks):
            groups = tuple(tuple(b) for b in order)
            key = _key(inst, groups, rules)
            if key[0] == 0 and (best is None or key < best[0]):
                best = (key, groups)
    if best is None:
        return None
    return Plan(best[1], evaluate(inst, best[1]), "exact (enumeration)")


def heuristic(inst: Instance, rules: Rules) -> Plan | None:
    """Snake deal of the devices, fastest first, then single moves and swaps that help."""
    n, k = inst.size
    if n < k * rules.min_group:
        return None
    order = np.argsort(inst.times.mean(axis=1), kind="stable")
    groups: list[list[int]] = [[] for _ in range(k)]
    for i, device in enumerate(order):
        lap, pos = divmod(i, k)
        groups[pos if lap % 2 == 0 else k - 1 - pos].append(int(device))
    current = _frozen(groups)
    key = _key(inst, current, rules)
    improved = True
    while improved:
        improved = False
        for candidate in _neighbours(current):
            found = _key(inst, candidate, rules)
            if found < key:
                current, key, improved = candidate, found, True
                break
    if key[0] > 0:
        return None
    return Plan(current, evaluate(inst, current), "heuristic (snake deal + local search)")


def _frozen(groups: Sequence[Sequence[int]]) -> Groups:
    return tuple(tuple(sorted(g)) for g in groups)


def _neighbours(groups: Groups) -> Iterator[Groups]:
    """Every grouping one move (a device to another group) or one swap away."""
    k = len(groups)
    for a, b in itertools.permutations(range(k), 2):
        for device in groups[a]:
            moved = [list(g) for g in groups]
            moved[a].remove(device)
            moved[b].append(device)
            if moved[a]:
                yield _frozen(moved)
    for a, b in itertools.combinations(range(k), 2):
        for x, y in itertools.product(groups[a], groups[b]):
            swapped = [list(g) for g in groups]
            swapped[a][swapped[a].index(x)] = y
            swapped[b][swapped[b].index(y)] = x
            yield _frozen(swapped)
    yield from _relabelled(groups)


def _relabelled(groups: Groups) -> Iterator[Groups]:
    """The same blocks with two students exchanged (students may differ in cost)."""
    for a, b in itertools.combinations(range(len(groups)), 2):
        out = list(groups)
        out[a], out[b] = out[b], out[a]
        yield tuple(out)


EXACT_UP_TO = 8
"""Devices up to which :func:`choose` enumerates; beyond, the heuristic."""


def choose(instances: dict[int, Instance], rules: Rules, method: str = "auto") -> Plan | None:
    """The best plan over the K of ``instances`` (exact, heuristic, or auto by size)."""
    plans = []
    for inst in instances.values():
        use_exact = method == "exact" or (method == "auto" and inst.size[0] <= EXACT_UP_TO)
        plan = exact(inst, rules) if use_exact else heuristic(inst, rules)
        if plan is not None:
            plans.append(plan)
    return min(plans, key=lambda p: p.score.objective(rules.objective), default=None)
