"""``edgesim model …``: list, inspect, cut, partition and profile models.

A MODEL argument is a zoo name (``edgesim model list``) or the path of an ONNX file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from models import ModelError

if TYPE_CHECKING:  # onnx, the zoo and rich load only when a model command runs
    import onnx
    from rich.table import Table


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    model = sub.add_parser("model", help="inspect, cut, partition and profile DNN models")
    verbs = model.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="the zoo's models").set_defaults(handler=_list)
    for verb, handler, text in (
        ("inspect", _inspect, "per-layer table: op class, FLOPs, weights, output"),
        ("cuts", _cuts, "where the model can be split, and the bytes that cross"),
    ):
        p = verbs.add_parser(verb, help=text)
        p.add_argument("model", metavar="MODEL")
        p.set_defaults(handler=handler)
        if verb == "cuts":
            p.add_argument("--sets", action="store_true", help="every cut set (tensors crossing)")
    part = verbs.add_parser("partition", help="write the sub-models between cut points")
    part.add_argument("model", metavar="MODEL")
    part.add_argument("--cuts", required=True, help="comma-separated cut tensors")
    part.add_argument(
        "--sets", action="store_true", help="--cuts names layers a cut set follows (DAG models)"
    )
    part.add_argument("--out", required=True, type=Path)
    part.set_defaults(handler=_partition)
    prof = verbs.add_parser("profile", help="measure the model per layer with onnxruntime here")
    prof.add_argument("model", metavar="MODEL")
    prof.add_argument("--threads", type=int, default=1)
    prof.add_argument("--runs", type=int, default=20)
    prof.add_argument("--out", type=Path, required=True)
    prof.set_defaults(handler=_profile)
    from models.distill_commands import register as register_distill
    from models.train_commands import register as register_train

    register_train(verbs)
    register_distill(verbs)


class ModelInputError(Exception):
    """A MODEL argument that names nothing usable."""


def open_model(text: str) -> tuple[str, onnx.ModelProto]:
    import onnx

    from models import zoo

    if text in zoo.BUILDERS:
        return text, zoo.load(text)
    path = Path(text)
    if not path.exists():
        known = ", ".join(sorted(zoo.BUILDERS))
        raise ModelInputError(f"model: {text!r} is neither a zoo model ({known}) nor a file")
    try:
        return path.stem, onnx.load(path)
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        raise ModelInputError(f"model: cannot read {path} as ONNX: {exc}") from None


def _table(title: str) -> Table:
    """A rich table (rich is imported here: ``edgesim --help`` does not need it)."""
    from rich.table import Table

    return Table(title=title, title_justify="left")


def _show(table: Table, width: int | None = None) -> None:
    from rich.console import Console

    console = Console()
    if width is not None and console.width < width:
        console = Console(width=width)
    console.print(table)


def _list(args: argparse.Namespace) -> int:
    from models import zoo

    table = _table("model zoo")
    for col in ("name", "built from"):
        table.add_column(col)
    for name, builder in sorted(zoo.BUILDERS.items()):
        table.add_row(
            name, (builder.__doc__ or "").strip().splitlines()[0] if builder.__doc__ else ""
        )
    _show(table)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from models.profile import profile

    name, model = open_model(args.model)
    prof = profile(model)
    table = _table(
        f"{name}: {prof.macs / 1e6:,.1f} M MACs, {prof.flops / 1e9:.3f} GFLOPs "
        f"(2 × MACs), {prof.parameters / 1e6:.2f} M parameters"
    )
    for col in ("#", "layer", "op", "class", "MFLOPs", "weights kB", "output", "output kB"):
        table.add_column(
            col,
            justify="left" if col in ("layer", "op", "class", "output") else "right",
            no_wrap=True,
        )
    for i, layer in enumerate(prof.layers):
        table.add_row(
            str(i),
            layer.name,
            layer.op_type,
            layer.op,
            f"{layer.flops / 1e6:,.2f}",
            f"{layer.weight_bytes / 1e3:,.1f}",
            "×".join(map(str, layer.output_shape)),
            f"{layer.output_bytes / 1e3:,.1f}",
        )
    _show(table, width=120)
    return 0


def _cuts(args: argparse.Namespace) -> int:
    from models.cuts import cut_points
    from models.cutsets import cut_sets, flow

    if args.sets:
        name, model = open_model(args.model)
        table = _table(f"{name}: cut sets (every tensor that crosses after a layer)")
        for col in ("after layer", "#", "tensors", "kB crossing", "tensors crossing"):
            table.add_column(
                col, justify="left" if col in ("after layer", "tensors crossing") else "right"
            )
        for c in cut_sets(flow(model)):
            shown = ", ".join(c.tensors[:3]) + (
                f", … ({len(c.tensors) - 3} more)" if len(c.tensors) > 3 else ""
            )
            table.add_row(
                c.after, str(c.index), str(len(c.tensors)), f"{c.bytes / 1e3:,.1f}", shown
            )
        _show(table, width=120)
        return 0
    from models.profile import profile

    name, model = open_model(args.model)
    prof = profile(model)
    table = _table(f"{name}: cut points (one tensor crosses)")
    for col in ("cut", "after layer #", "shape", "kB crossing", "GFLOPs before"):
        table.add_column(col, justify="left" if col in ("cut", "shape") else "right")
    for cut in cut_points(model, prof):
        table.add_row(
            cut.name,
            str(cut.index),
            "×".join(map(str, cut.shape)),
            f"{cut.bytes / 1e3:,.1f}",
            f"{cut.flops_before / 1e9:.3f}",
        )
    _show(table)
    return 0


def _partition(args: argparse.Namespace) -> int:
    from models.cuts import cut_points
    from models.partition import partitions, save
    from models.profile import profile

    name, model = open_model(args.model)
    wanted = [c.strip() for c in args.cuts.split(",") if c.strip()]
    if args.sets:
        return _partition_sets(name, model, wanted, args.out)
    known = [c.name for c in cut_points(model, profile(model))]
    for cut in wanted:
        if cut not in known:
            hint = f"see: edgesim model cuts {args.model}"
            raise ModelInputError(f"--cuts: {cut!r} is not a cut point of {name} ({hint})")
    order = [c for c in known if c in wanted]
    paths = save(partitions(model, order), args.out)
    for path in paths:
        print(path)
    return 0


def _partition_sets(name: str, model: onnx.ModelProto, after: list[str], out: Path) -> int:
    """Parts between cut sets, ``partK.onnx``, and ``edges.json``: each edge's tensors."""
    import onnx

    from models.cutsets import edge_bytes, edges, extract, flow, parts

    f = flow(model)
    try:
        ps = parts(f, after)
    except KeyError as exc:
        hint = f"see: edgesim model cuts {name} --sets"
        message = f"{exc.args[0]!r} is no layer of {name} a cut set can follow ({hint})"
        raise ModelInputError(f"--cuts: {message}") from None
    out.mkdir(parents=True, exist_ok=True)
    for p, sub in zip(ps, extract(model, ps), strict=True):
        onnx.save(sub, out / f"{p.name}.onnx")
        print(out / f"{p.name}.onnx")
    sizes = edge_bytes(f, ps)
    rows = [
        {"from": a or "input", "to": b or "output", "tensors": list(t), "bytes": sizes[(a, b)]}
        for (a, b), t in edges(f, ps).items()
    ]
    (out / "edges.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(out / "edges.json")
    return 0


def _profile(args: argparse.Namespace) -> int:
    from models.measure import device_profile, graph_links

    name, model = open_model(args.model)
    nodes, ops, producers = graph_links(model)
    result = device_profile(
        model.SerializeToString(), name, nodes, args.threads, args.runs, ops, producers
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{name}: {result['end_to_end']['median'] * 1e3:.2f} ms end to end "
        f"({args.threads} thread(s)); profile in {args.out}"
    )
    return 0


__all__ = ["ModelError", "ModelInputError", "register"]
