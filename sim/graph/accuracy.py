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
  losses, each measured once with onnxruntime and cached on disk. A graph whose unions
  number more than :data:`MAX_DAMAGES` is refused when the scenario is checked.

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

from sim.graph.spec import GraphSpec
from sim.problems import Problem
from sim.records import Change, Outcomes, Status

if TYPE_CHECKING:
    from models.accuracy import Damage
    from models.training import Trained
    from sim.graph.expand import Actor, Graph
    from sim.graph.tokens import Fifo, Request
    from sim.spec import Scenario
    from sim.world import World

MAX_DAMAGES = 32
"""At most this many distinct damages (unions of actors' losses) per graph: each is a
pass of the model over the whole test split."""


def trained(name: str) -> Trained:
    """The trained model ``name``: committed in ``models/trained/``, or in the cache."""
    from models import ModelError
    from models.training import COMMITTED, cache_dir, read

    for folder in (COMMITTED, cache_dir()):
        path = folder / f"{name}.onnx"
        if path.exists() and path.with_suffix(".json").exists():
            return read(path)
    raise ModelError(f"no trained model {name!r} (known: {', '.join(known_models())})")


def known_models() -> list[str]:
    """The trained models committed or cached here, by name."""
    from models.training import COMMITTED, cache_dir

    folders = [f for f in (COMMITTED, cache_dir()) if f.is_dir()]
    return sorted({p.stem for f in folders for p in f.glob("*.onnx")})


def losses(spec: GraphSpec) -> dict[str, tuple[str, ...]]:
    """Per actor that loses something, its ``loses`` items."""
    return {n: a.loses for n, a in (spec.actors or {}).items() if a.loses}


def unions(lossy: dict[str, tuple[str, ...]]) -> dict[frozenset[str], Damage]:
    """Every set of lossy actors, with the union of their losses."""
    from models.accuracy import Damage

    names = sorted(lossy)
    out = {}
    for r in range(len(names) + 1):
        for subset in itertools.combinations(names, r):
            out[frozenset(subset)] = Damage.parse([i for n in subset for i in lossy[n]])
    return out


def problems(s: Scenario) -> list[Problem]:
    """What is wrong with the graphs' accuracy settings: an unknown model, losses that are
    not channels of it, losses without a model, or too many damages to measure."""
    out = []
    for name, spec in s.graphs.items():
        where = f"graphs.{name}"
        lossy = losses(spec)
        if spec.accuracy is None:
            out += [
                Problem(f"{where}.actors.{n}.loses", f"needs {where}.accuracy: a trained model")
                for n in lossy
            ]
            continue
        out += _model_problems(where, spec.accuracy.model, lossy)
    return out


def _model_problems(where: str, model: str, lossy: dict[str, tuple[str, ...]]) -> list[Problem]:
    import onnx

    from models import ModelError
    from models.accuracy import Damage, layer_channels

    try:
        layers = layer_channels(onnx.load(trained(model).onnx_path))
    except ModelError as exc:
        return [Problem(f"{where}.accuracy.model", str(exc))]
    out = []
    for actor, items in lossy.items():
        path = f"{where}.actors.{actor}.loses"
        try:
            damage = Damage.parse(list(items))
        except ModelError as exc:
            out.append(Problem(path, str(exc).removeprefix("--zero: ")))
            continue
        for layer, channels in damage.zeroed:
            if layer not in layers:
                known = ", ".join(layers)
                out.append(Problem(path, f"{model} has no layer {layer!r} (layers: {known})"))
            elif channels[-1] >= layers[layer]:
                top = layers[layer] - 1
                out.append(Problem(path, f"{layer} has channels 0-{top}", channels[-1]))
    if out:
        return out
    count = len({str(d) for d in unions(lossy).values()}) if len(lossy) <= 12 else 2 ** len(lossy)
    if count > MAX_DAMAGES:
        out.append(
            Problem(
                f"{where}.actors",
                f"{len(lossy)} actors with losses make {count} damages to measure "
                f"(at most {MAX_DAMAGES}); give fewer actors losses",
            )
        )
    return out


class Table:
    """Per set of lossy actors of one graph (a bit mask of their indices), the per-sample
    correctness of the model damaged by their losses."""

    def __init__(self, model: Trained, by_mask: dict[int, np.ndarray]) -> None:
        self.model = model
        self.by_mask = by_mask
        self.mask = functools.reduce(int.__or__, by_mask, 0)  # every lossy actor's bit
        self.samples = len(by_mask[0])

    def correct(self, gone: int, sample: int) -> bool:
        """Whether the variant left when the actors ``gone`` are missing gets ``sample``."""
        return bool(self.by_mask[gone & self.mask][sample])

    def accuracy(self, gone: int) -> float:
        """Test accuracy of the variant left when the actors ``gone`` are missing."""
        return float(self.by_mask[gone & self.mask].mean())

    def __repr__(self) -> str:
        return f"Table({self.model.name}, {len(self.by_mask)} damages)"


def table(g: Graph, spec: GraphSpec) -> Table | None:
    """The damage table of a resolved graph, or None when it names no model."""
    if spec.accuracy is None:
        return None
    lossy = losses(spec)
    bits = {n: 1 << g.actors[n].index for n in lossy}
    key = tuple(sorted((bits[n], items) for n, items in lossy.items()))
    return _table(spec.accuracy.model, key)


@functools.cache
def _table(model: str, key: tuple[tuple[int, tuple[str, ...]], ...]) -> Table:
    from models.accuracy import correct

    net = trained(model)
    lossy = dict(key)
    by_mask = {}
    for r in range(len(lossy) + 1):
        for subset in itertools.combinations(sorted(lossy), r):
            damage = _union([lossy[b] for b in subset])
            by_mask[sum(subset)] = correct(net, damage)
    return Table(net, by_mask)


def _union(items: Sequence[tuple[str, ...]]) -> Damage:
    from models.accuracy import Damage

    return Damage.parse([i for part in items for i in part])


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

    def end(self, req: Request, status: Status) -> None:
        """Score a request that ended with ``status``."""
        answered = status <= Status.LATE
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
    found = table(g, world.scenario.graphs[g.name])
    if found is None:
        return None
    resilience = world.resilience
    downs = None
    if resilience is not None:
        health = resilience.health
        downs = Downs(lambda: health.timeline)
    rng = world.streams.rng(f"source:{name}:samples")
    return Scorer(found, rng, world.scenario.warmup, kept, downs)
