"""The accuracy settings of graphs: trained models by name, actors' losses, model exits.

:func:`problems` checks them before running (it is part of :mod:`sim.graph.checks`):
the model named by ``accuracy`` exists; every ``loses`` item is ``LAYER:CHANNELS`` of a
convolution or gemm layer of it; losses or model exits come with a model, exits with the
same one and an early head of it (an exit by a probability has no answer to score); an
exit's answer is measured on the intact network,
so no actor before a model exit loses anything; and a graph's unions of losses number at
most :data:`MAX_DAMAGES` (each is a pass of the model over the whole test split).

The scoring model is of one of the :data:`KINDS` of damage: a trained model whose
actors' losses zero channels (``LAYER:CHANNELS``), or a distilled ensemble
(:mod:`models.ensemble`, RoCoIn's students) whose actors' losses are whole students
(``student:K``): the answer is then the aggregator's with the other students only.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.graph import systems
from sim.graph.spec import ActorSpec, ModelExit
from sim.graph.systems.rocoin import STUDENT, find
from sim.problems import Problem

if TYPE_CHECKING:
    from models.accuracy import Damage
    from models.ensemble import Ensemble
    from models.training import Trained
    from sim.spec import Scenario

Actors = Mapping[str, ActorSpec]

MAX_DAMAGES = 32
"""At most this many distinct damages (unions of actors' losses) per graph."""


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


def exits_module() -> Any:
    """:mod:`models.exits` (imported by name: the models part ships it)."""
    return importlib.import_module("models.exits")


def losses(actors: Actors) -> dict[str, tuple[str, ...]]:
    """Per actor that loses something, its ``loses`` items."""
    return {n: a.loses for n, a in actors.items() if a.loses}


def model_exits(actors: Actors) -> dict[str, ModelExit]:
    """Per actor whose exit is a model's head, that exit."""
    return {n: a.exit for n, a in actors.items() if isinstance(a.exit, ModelExit)}


def unions(lossy: dict[str, tuple[str, ...]]) -> dict[frozenset[str], Damage]:
    """Every set of lossy actors, with the union of their losses."""
    from models.accuracy import Damage

    names = sorted(lossy)
    return {
        frozenset(subset): Damage.parse([i for n in subset for i in lossy[n]])
        for r in range(len(names) + 1)
        for subset in itertools.combinations(names, r)
    }


def problems(s: Scenario) -> list[Problem]:
    """Every problem of the graphs' accuracy settings (see the module docstring)."""
    out = []
    for name, spec in s.graphs.items():
        where = f"graphs.{name}"
        if systems.problems(s, name, spec):
            continue  # reported by sim.graph.checks
        actors = systems.actor_specs(s, name, spec)
        used = [(f"{n}.loses", "losses") for n in losses(actors)]
        used += [(f"{n}.exit", "a model exit") for n in model_exits(actors)]
        model = systems.scoring(spec)
        if model is None:
            out += [
                Problem(f"{where}.actors.{path}", f"{what} needs {where}.accuracy: a model")
                for path, what in used
            ]
            continue
        kind = kind_of(model)
        found = kind.check(where, model, losses(actors))
        if found or kind is not CHANNELS:
            out += found or [
                Problem(f"{where}.actors.{n}.exit", f"{model} is an ensemble: it has no exits")
                for n in model_exits(actors)
            ]
        else:
            out += _exits(where, model, actors)
        out += [
            Problem(f"{where}.actors.{n}.exit", "a scored graph exits by a model's head: "
                    "give {model, head, threshold}, not a probability", a.exit)
            for n, a in actors.items() if isinstance(a.exit, float)
        ]  # fmt: skip
    return out


def _model(where: str, model: str, lossy: dict[str, tuple[str, ...]]) -> list[Problem]:
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
    return _count(where, len(lossy), count, MAX_DAMAGES)


def _count(where: str, lossy: int, count: int, limit: int) -> list[Problem]:
    if count <= limit:
        return []
    message = f"{lossy} actors with losses make {count} damages to measure"
    return [Problem(f"{where}.actors", f"{message} (at most {limit})")]


def _exits(where: str, model: str, actors: Actors) -> list[Problem]:
    found = model_exits(actors)
    if not found:
        return []
    try:
        module = exits_module()
    except ImportError:
        return [Problem(f"{where}.actors", "model exits need models.exits, which is missing")]
    import onnx

    early = [h.name for h in module.heads(onnx.load(trained(model).onnx_path))[:-1]]
    lossy = set(losses(actors))
    out = []
    for actor, ex in found.items():
        path = f"{where}.actors.{actor}.exit"
        before = _ancestors(actors, actor) & lossy
        if ex.model != model:
            out.append(Problem(f"{path}.model", f"must be the graph's model {model!r}", ex.model))
        elif ex.head not in early:
            heads = ", ".join(early) or "none"
            out.append(Problem(f"{path}.head", f"{model}'s early heads are: {heads}", ex.head))
        elif before:
            names = ", ".join(sorted(before))
            message = f"follows actors with losses ({names}); exits are measured intact"
            out.append(Problem(path, message))
    return out


def _ancestors(actors: Actors, name: str) -> set[str]:
    seen: set[str] = set()
    stack = list(actors[name].after)
    while stack:
        n = stack.pop()
        if n not in seen and n in actors:
            seen.add(n)
            stack.extend(actors[n].after)
    return seen


def students(items: Sequence[str]) -> set[int]:
    """The students ``student:K`` items name (``ValueError`` on any other item)."""
    out = set()
    for item in items:
        index = item.removeprefix(STUDENT)
        if item == index or not index.isdigit():
            raise ValueError(f"{item!r} is no {STUDENT}K item")
        out.add(int(index))
    return out


def _students(where: str, model: str, lossy: dict[str, tuple[str, ...]]) -> list[Problem]:
    ensemble = find(model)
    assert ensemble is not None, "an ensemble kind owns only ensembles that exist"
    top = ensemble.size - 1
    out = []
    for actor, items in lossy.items():
        path = f"{where}.actors.{actor}.loses"
        try:
            bad = sorted(k for k in students(items) if k > top)
        except ValueError as exc:
            out.append(Problem(path, f"{exc}: an ensemble loses {STUDENT}0-{top}"))
            continue
        if bad:
            out.append(Problem(path, f"{model} has students 0-{top}", bad[0]))
    return out or _count(where, len(lossy), 2 ** len(lossy), MAX_STUDENT_DAMAGES)


def _zeroed(model: Trained, items: Sequence[tuple[str, ...]]) -> np.ndarray:
    from models.accuracy import Damage, correct

    return correct(model, Damage.parse([i for part in items for i in part]))


def _alive(model: Ensemble, items: Sequence[tuple[str, ...]]) -> np.ndarray:
    from models.ensemble import correct

    lost = students([i for part in items for i in part])
    return correct(model, frozenset(range(model.size)) - lost)


def _ensemble(name: str) -> Ensemble:
    found = find(name)
    assert found is not None, "checked"
    return found


@dataclass(frozen=True, slots=True)
class DamageKind:
    """What a scoring model is, and how the actors' losses damage it."""

    owns: Callable[[str], bool]
    load: Callable[[str], Any]  # the model (with its name) from its name
    check: Callable[[str, str, dict[str, tuple[str, ...]]], list[Problem]]
    measure: Callable[[Any, Sequence[tuple[str, ...]]], np.ndarray]  # per test sample: right?


MAX_STUDENT_DAMAGES = 256
"""Subsets of students measured per graph (each is one pass of the small aggregator)."""
CHANNELS = DamageKind(lambda name: True, trained, _model, _zeroed)
STUDENTS = DamageKind(lambda name: find(name) is not None, _ensemble, _students, _alive)
KINDS = (STUDENTS, CHANNELS)
"""The damage kinds, the first that owns a model's name scoring it."""


def kind_of(model: str) -> DamageKind:
    """The damage kind of the scoring model ``model``."""
    return next(k for k in KINDS if k.owns(model))
