"""Accuracy from the analytic model: the damage table mixed over the service states.

For each service state (the set of components down, with its probability, from
:mod:`analysis.availability`) and each source of a graph that names a trained model,
the actors are walked in topological order: an actor is lost when its device is down
or cut off from its producers' devices (or, for an entry actor, from the source), or
when its join cannot fire with the inputs left (a ``k_of_n`` with a timeout fires with
any one). The request is answered when every sink is left and can reach the source;
its damage is then the union of the lost actors' ``loses``, whose per-sample answers the
damage table of :mod:`sim.graph.accuracy` gives; a sample that a model exit left up
answers is answered there. With answered(s) and right(s) the shares of test samples
answered, and answered rightly, in state s, the figures are the mixtures

* answered: Σ P(s) · right(s) / Σ P(s) · answered(s);
* all: Σ P(s) · right(s) / Σ P(s);
* inside / outside: the same over the states with some component down / none,

overall weighted over sources by arrival rate, and per source under ``sources``
(Poisson arrivals see time averages). Neglected:
requests that meet a failure in the middle of their service, slow inputs that a
``k_of_n`` timeout leaves out while their devices are up, queue drops and transfers
out of attempts (the latency model's business), and exits by a probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from analysis.analytic.network import Figure, figure
from sim.graph.accuracy import Table, table
from sim.graph.expand import Graph, resolve
from sim.graph.spec import KOfN
from sim.spec import Scenario, SourceSpec

METHOD = "damage table × P(state), walking the graph's joins in each state"
State = tuple[frozenset[str], float]


def accuracy(s: Scenario, states: Sequence[State], up: Any, rate: Any) -> dict[str, Any] | None:
    """The accuracy figures of the scenario's scored graphs, or None without any.

    ``up(down)``: the topology without the components ``down``; ``rate(src)``: a source's
    arrival rate."""
    total = np.zeros((2, 3))  # [outside, inside] x [P·right, P·answered, P], rate-weighted
    sources = {}
    for name, spec in s.graphs.items():
        g = resolve(s, name, spec)
        t = table(s, g)
        if t is None:
            continue
        for src in g.sources:
            sums = np.zeros((2, 3))
            for down, p in states:
                answered, right = _state(g, t, src, up(down))
                sums[int(bool(down))] += (p * right, p * answered, p)
            sources[src.name] = _figures(sums)
            total += rate(src) * sums
    if not sources:
        return None
    return {**_figures(total), "sources": sources}


def _figures(sums: np.ndarray) -> dict[str, Any]:
    return {**_cells(sums.sum(axis=0)), "inside": _cells(sums[1]), "outside": _cells(sums[0])}


def _cells(c: np.ndarray) -> dict[str, Figure]:
    return {
        "answered": figure(float(c[0] / c[1]) if c[1] else None, METHOD),
        "all": figure(float(c[0] / c[2]) if c[2] else None, METHOD),
    }


def _state(g: Graph, t: Table, src: SourceSpec, up: nx.Graph) -> tuple[float, float]:
    """The shares of test samples answered, and answered rightly, for a request from
    ``src`` in the topology ``up`` (without the components down)."""
    at = src.at
    assert at is not None, "graph sources are placed"
    lost: set[str] = set()
    for name, actor in g.actors.items():
        device = actor.device(at)
        producers = [g.actors[p].device(at) for p in actor.inputs] or [at]
        reached = [_linked(up, d, device) for d in producers]
        left = [ok and p not in lost for ok, p in zip(reached, actor.inputs, strict=False)]
        if not actor.inputs:
            fired = all(reached)
        else:
            timed = isinstance(actor.join, KOfN) and actor.join.timeout is not None
            fired = sum(left) >= actor.need or (timed and any(left))
        if not fired:  # a device down is linked to nothing
            lost.add(name)

    def back(n: str) -> bool:
        return n not in lost and _linked(up, g.actors[n].device(at), at)

    sinks = all(back(n) for n in g.sinks)
    exits = [a.index for n, a in g.actors.items() if a.index in t.exits and back(n)]
    early, right = t.scores(sum(1 << g.actors[n].index for n in lost), exits)
    answered = early | sinks
    return float(answered.mean()), float((right & answered).mean())


def _linked(up: nx.Graph, a: str, b: str) -> bool:
    """Whether devices ``a`` and ``b`` are up and a route joins them."""
    return a in up and b in up and bool(nx.has_path(up, a, b))
