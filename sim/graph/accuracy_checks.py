"""The accuracy settings of graphs: trained models by name, actors' losses, model exits.

:func:`problems` checks them before running (it is part of :mod:`sim.graph.checks`):
the model named by ``accuracy`` exists; every ``loses`` item is ``LAYER:CHANNELS`` of a
convolution or gemm layer of it; losses or model exits come with a model, exits with the
same one and an early head of it (an exit by a probability has no answer to score); an
exit's answer is measured on the intact network,
so no actor before a model exit loses anything; and a graph's unions of losses number at
most :data:`MAX_DAMAGES` (each is a pass of the model over the whole test split).
"""

from __future__ import annotations

import importlib
import itertools
from typing import TYPE_CHECKING, Any

from sim.graph.spec import GraphSpec, ModelExit
from sim.problems import Problem

if TYPE_CHECKING:
    from models.accuracy import Damage
    from models.training import Trained
    from sim.spec import Scenario

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


def losses(spec: GraphSpec) -> dict[str, tuple[str, ...]]:
    """Per actor that loses something, its ``loses`` items."""
    return {n: a.loses for n, a in (spec.actors or {}).items() if a.loses}


def model_exits(spec: GraphSpec) -> dict[str, ModelExit]:
    """Per actor whose exit is a model's head, that exit."""
    return {n: a.exit for n, a in (spec.actors or {}).items() if isinstance(a.exit, ModelExit)}


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
        used = [(f"{n}.loses", "losses") for n in losses(spec)]
        used += [(f"{n}.exit", "a model exit") for n in model_exits(spec)]
        if spec.accuracy is None:
            out += [
                Problem(f"{where}.actors.{path}", f"{what} needs {where}.accuracy: a model")
                for path, what in used
            ]
            continue
        found = _model(where, spec.accuracy.model, losses(spec))
        out += found or _exits(where, spec)
        out += [
            Problem(f"{where}.actors.{n}.exit", "a scored graph exits by a model's head: "
                    "give {model, head, threshold}, not a probability", a.exit)
            for n, a in (spec.actors or {}).items() if isinstance(a.exit, float)
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
    if count > MAX_DAMAGES:
        message = f"{len(lossy)} actors with losses make {count} damages to measure"
        out.append(Problem(f"{where}.actors", f"{message} (at most {MAX_DAMAGES})"))
    return out


def _exits(where: str, spec: GraphSpec) -> list[Problem]:
    found = model_exits(spec)
    if not found:
        return []
    assert spec.accuracy is not None and spec.actors is not None, "checked by the caller"
    model = spec.accuracy.model
    try:
        module = exits_module()
    except ImportError:
        return [Problem(f"{where}.actors", "model exits need models.exits, which is missing")]
    import onnx

    early = [h.name for h in module.heads(onnx.load(trained(model).onnx_path))[:-1]]
    lossy = set(losses(spec))
    out = []
    for actor, ex in found.items():
        path = f"{where}.actors.{actor}.exit"
        before = _ancestors(spec, actor) & lossy
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


def _ancestors(spec: GraphSpec, name: str) -> set[str]:
    actors = spec.actors or {}
    seen: set[str] = set()
    stack = list(actors[name].after)
    while stack:
        n = stack.pop()
        if n not in seen and n in actors:
            seen.add(n)
            stack.extend(actors[n].after)
    return seen
