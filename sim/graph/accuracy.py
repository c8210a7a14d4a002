"""Accuracy as a simulated outcome: each request scored by the variant of the model that served it.

A graph may name a trained model (``accuracy: {model: NAME}``, :mod:`models.training`) and
each actor what its loss takes away from it (``loses: ["s3.b1.conv2:0-31"]``: channels
zeroed, as ``edgesim model accuracy --zero`` reads them). Then:

* every request carries a test-sample index, drawn uniformly from the model's test split
  on the source's own stream ``source:NAME:samples``, so arrivals and service draws are
  those of the same scenario without accuracy (common random numbers);
* the engine marks, per request, the actors whose output was lost (a device down or
  failing, a transfer out of attempts, a full queue) or missing when a join fired (a
  ``k_of_n`` timeout);
* when the request is answered, its damage is the union of those actors' ``loses`` and
  the answer is ``correct(model, damage)[sample]`` (:func:`models.accuracy.correct`),
  looked up in a :class:`Table` built before the run: every union of the actors'
  losses, each measured once with onnxruntime and cached on disk (a graph with more
  than :data:`sim.graph.accuracy_checks.MAX_DAMAGES` of them is refused); a distilled
  ensemble as the model (RoCoIn) loses whole students instead (``student:K``), and the
  answer is the aggregator's with the students left (:mod:`models.ensemble`);
* an actor's exit may be a model's head (``exit: {model, head, threshold}``): the request
  leaves there exactly when its test sample exits at that head
  (:func:`models.exits.exit_table`), and is then scored by that head's answer.

A :class:`Scorer` per source keeps, per request, the sample and whether it was answered
correctly (records ``all``), and always the counts the summary reports: answered,
correct and finished requests that arrived after the warm-up, split by whether some
component was down at the arrival (:class:`sim.records.Outcomes`). docs/accuracy.md
describes the format and the figures.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from sim.graph import systems
from sim.graph.accuracy_checks import exits_module, kind_of, losses, model_exits
from sim.graph.accuracy_checks import trained as trained  # re-exported
from sim.records import Change, Outcomes, Status

if TYPE_CHECKING:
    from models.accuracy import Damage
    from models.ensemble import Ensemble
    from models.training import Trained
    from sim.graph.expand import Actor, Graph
    from sim.graph.tokens import Fifo, Request
    from sim.spec import Scenario
    from sim.world import World

Exit = tuple[int, np.ndarray, np.ndarray]
"""A model exit: its head's index, and per test sample the head taken and whether rightly."""


class Table:
    """Per set of lossy actors of one graph (a bit mask of their indices), the per-sample
    correctness of the model damaged by their losses; per actor with a model exit (by
    index), that exit."""

    def __init__(
        self, model: Trained | Ensemble, by_mask: dict[int, np.ndarray], exits: dict[int, Exit],
        mask: int | None = None,
    ) -> None:  # fmt: skip
        self.model = model
        self.by_mask = by_mask
        self.exits = exits
        every = functools.reduce(int.__or__, by_mask, 0)  # every lossy actor's bit
        self.mask = every if mask is None else mask
        self.samples = len(by_mask[0])

    def correct(self, gone: int, sample: int) -> bool:
        """Whether the variant left when the actors ``gone`` are missing gets ``sample``."""
        return bool(self.by_mask[gone & self.mask][sample])

    def scores(self, gone: int, exits: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Per test sample, whether one of the actors ``exits`` answers it, and whether the
        answer (there, or of the variant left without the actors ``gone``) is right."""
        right = self.by_mask[gone & self.mask].copy()
        early = np.zeros(self.samples, bool)
        for actor in exits:
            head, taken, hit = self.exits[actor]
            here = (taken == head) & ~early
            right[here] = hit[here]
            early |= here
        return early, right

    def __repr__(self) -> str:
        return f"Table({self.model.name}, {len(self.by_mask)} damages, {len(self.exits)} exits)"


def table(s: Scenario, g: Graph) -> Table | None:
    """The damage table of the resolved graph ``g`` of ``s``, or None when it names no model."""
    spec = s.graphs[g.name]
    model = systems.scoring(spec)
    if model is None:
        return None
    made = systems.system(spec)
    damage = made.damage(g, spec.system) if made is not None else None
    if damage is not None:  # a system that says what each set of missing actors leaves
        at = (model, spec.system, tuple(g.actors))
        if at not in _measured:
            answers = Measured(trained(model), damage)
            _measured[at] = Table(answers.net, answers, {}, (1 << len(g.actors)) - 1)
        return _measured[at]
    actors = systems.actor_specs(s, g.name, spec)
    lossy = losses(actors)
    key = tuple(sorted((1 << g.actors[n].index, items) for n, items in lossy.items()))
    exits = tuple(
        (g.actors[n].index, e.head, e.threshold) for n, e in sorted(model_exits(actors).items())
    )
    return _table(model, key, exits)


@functools.cache
def _table(
    model: str,
    key: tuple[tuple[int, tuple[str, ...]], ...],
    exits: tuple[tuple[int, str, float], ...],
) -> Table:
    kind = kind_of(model)
    net = kind.load(model)
    lossy = dict(key)
    by_mask = {}
    for r in range(len(lossy) + 1):
        for subset in itertools.combinations(sorted(lossy), r):
            by_mask[sum(subset)] = kind.measure(net, [lossy[b] for b in subset])
    found: dict[int, Exit] = {}
    for actor, head, threshold in exits:
        ex = exits_module().exit_table(net, threshold)
        found[actor] = (ex.heads.index(head), ex.taken, ex.correct)
    return Table(net, by_mask, found)


class Measured(dict[int, np.ndarray]):
    """Per set of missing actors (a bit mask), the per-sample answers of the model with the
    damage ``damage(mask)`` a system says it leaves, measured when first asked: a system's
    damages are too many to measure before the run, and a run meets few of them."""

    def __init__(self, net: Trained, damage: Callable[[int], Damage]) -> None:
        super().__init__()
        self.net = net
        self.damage = damage
        self.by_damage: dict[str, np.ndarray] = {}

    def __missing__(self, gone: int) -> np.ndarray:
        from models.accuracy import correct

        damage = self.damage(gone)
        if str(damage) not in self.by_damage:
            self.by_damage[str(damage)] = correct(self.net, damage)
        self[gone] = self.by_damage[str(damage)]
        return self[gone]

    def __repr__(self) -> str:
        return f"Measured({self.net.name}, {len(self)} masks, {len(self.by_damage)} damages)"


_measured: dict[tuple[object, ...], Table] = {}
"""The tables of systems' graphs, by model, system parameters and actors."""


class Downs:
    """Whether some component is down now, from the timeline as it grows."""

    def __init__(self, timeline: Callable[[], Sequence[Change]]) -> None:
        self.timeline = timeline
        self.seen = 0
        self.down: set[str] = set()

    def now(self) -> bool:
        changes = self.timeline()
        for change in changes[self.seen :]:
            if change.state == "down":
                self.down.add(change.component)
            else:
                self.down.discard(change.component)
        self.seen = len(changes)
        return bool(self.down)

    def __repr__(self) -> str:
        return f"Downs(down={sorted(self.down)}, seen={self.seen})"


class Scorer:
    """One source's requests: the sample each carries, and how each answer scored."""

    def __init__(
        self, table: Table, rng: np.random.Generator, start: float, kept: bool,
        downs: Downs | None,
    ) -> None:  # fmt: skip
        self.table = table
        self.rng = rng
        self.start = start
        self.kept = kept
        self.downs = downs
        self.counts = np.zeros((2, 3), np.int64)
        self.rows: list[tuple[int, bool]] = []
        self._pending: list[int] = []

    def arrive(self, req: Request) -> None:
        """Give a new request its test sample, and note whether it arrives during a failure."""
        if not self._pending:
            self._pending = self.rng.integers(0, self.table.samples, 512)[::-1].tolist()
        req.sample = self._pending.pop()
        req.inside = self.downs is not None and self.downs.now()

    def absent(self, req: Request, actor: Actor, held: list[Fifo]) -> None:
        """``actor`` fires for ``req`` with only the inputs ``held``: mark the others missing."""
        g = req.feed.graph
        for producer in actor.inputs:
            fifo = req.feed.fifos[(actor.name, producer)]
            if not any(f is fifo for f in held):
                req.gone |= 1 << g.actors[producer].index

    def leaves(self, req: Request, actor: Actor) -> bool:
        """Whether ``req`` leaves the graph at ``actor``: its model exit is where the
        request's test sample exits."""
        found = self.table.exits.get(actor.index)
        if found is None or found[1][req.sample] != found[0]:
            return False
        req.exited = actor.index
        return True

    def end(self, req: Request, status: Status) -> None:
        """Score a request that ended with ``status``: by the exit it took, or by the
        variant of the model its missing actors left."""
        answered = status <= Status.LATE
        if req.exited >= 0:
            right = answered and bool(self.table.exits[req.exited][2][req.sample])
        else:
            right = answered and self.table.correct(req.gone, req.sample)
        if self.kept:
            self.rows.append((req.sample, right))
        if req.arrival >= self.start:
            self.counts[int(req.inside)] += (answered, right, 1)

    def outcomes(self) -> Outcomes:
        sample = np.fromiter((s for s, _ in self.rows), np.int32, len(self.rows))
        correct = np.fromiter((c for _, c in self.rows), bool, len(self.rows))
        return Outcomes(self.table.model.name, sample, correct, self.counts.copy())

    def __repr__(self) -> str:
        return f"Scorer({self.table!r}, counts={self.counts.tolist()})"


def scorer(world: World, g: Graph, name: str, kept: bool) -> Scorer | None:
    """The scorer of the source ``name`` of ``g``, or None when the graph names no model."""
    found = table(world.scenario, g)
    if found is None:
        return None
    resilience = world.resilience
    downs = None
    if resilience is not None:
        health = resilience.health
        downs = Downs(lambda: health.timeline)
    rng = world.streams.rng(f"source:{name}:samples")
    return Scorer(found, rng, world.scenario.warmup, kept, downs)
