"""Which actors of a graph a request reaches: the outcomes of its early exits.

Every actor with an ``exit`` probability p decides, when it fires, to end the request
there (p) or to hand its output on (1 − p). An :class:`Outcome` is one combination of
these decisions, with its probability, the actors that fire under it (in topological
order: an entry actor always; an actor with inputs when its join holds on the inputs
delivered: ``all`` of them, at least one for ``first``, k for ``k_of_n``, or one with a
timeout) and the exits taken. Summed over the outcomes, an actor's *reach* is the
probability that a request fires it: joins fire once, whatever the number of inputs.

Tokens a request still has on other branches after it has ended are served where they
are and dropped at the next actor (the run does so); the outcomes count the actors they
would reach as fired, which overstates their load by the requests that end first.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from sim.graph.expand import Actor, Graph
from sim.graph.spec import KOfN

MAX_EXITS = 12
"""Largest number of exit actors whose 2ⁿ outcomes are enumerated."""


@dataclass(frozen=True, slots=True)
class Outcome:
    probability: float
    fires: frozenset[str]
    delivers: frozenset[str]  # fired and handed their output on
    exits: frozenset[str]  # fired and ended the request there

    def completes(self, g: Graph) -> bool:
        """Whether every sink's result comes back (no exit needed)."""
        return all(n in self.delivers for n in g.sinks)


def fires(actor: Actor, delivered: int) -> bool:
    """Whether ``actor``'s join holds when ``delivered`` of its inputs come."""
    if not actor.inputs:
        return True
    join = actor.join
    if join == "all":
        return delivered == len(actor.inputs)
    if join == "first":
        return delivered >= 1
    assert isinstance(join, KOfN)
    return delivered >= join.k or (join.timeout is not None and delivered >= 1)


def outcomes(g: Graph) -> list[Outcome]:
    """Every combination of exit decisions with positive probability, identical ones merged."""
    exits = [n for n, a in g.actors.items() if a.exit]
    if len(exits) > MAX_EXITS:
        raise ValueError(f"more than {MAX_EXITS} exit actors")
    merged: dict[tuple[frozenset[str], ...], float] = {}
    for bits in itertools.product((False, True), repeat=len(exits)):
        chances = [g.actors[n].exit or 0.0 for n in exits]
        p = math.prod(c if b else 1 - c for c, b in zip(chances, bits, strict=True))
        if p <= 0:
            continue
        taken = {n for n, b in zip(exits, bits, strict=True) if b}
        fired: set[str] = set()
        handed: set[str] = set()
        for n, a in g.actors.items():  # topological order
            if fires(a, sum(1 for i in a.inputs if i in handed)):
                fired.add(n)
                if n not in taken:
                    handed.add(n)
        key = (frozenset(fired), frozenset(handed), frozenset(taken & fired))
        merged[key] = merged.get(key, 0.0) + p
    return [Outcome(p, *key) for key, p in merged.items()]


def reach(found: list[Outcome], name: str) -> float:
    """Probability that a request fires actor ``name``."""
    return sum(o.probability for o in found if name in o.fires)


def handed(found: list[Outcome], name: str) -> float:
    """Probability that actor ``name`` fires and hands its output on."""
    return sum(o.probability for o in found if name in o.delivers)


def returned(found: list[Outcome], g: Graph, name: str) -> float:
    """Probability that actor ``name`` sends a result back (a sink that fires, an exit taken)."""
    sink = name in g.sinks
    return sum(o.probability for o in found if name in o.exits or (sink and name in o.fires))
