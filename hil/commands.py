"""``edgesim hil …``: bundle the agent, check a device, calibrate it, run a scenario with
it, validate the prediction.

The host side of hardware in the loop; the device side is :mod:`hil.agent`. ``edgesim
--help`` imports this module, so its top level needs only the standard library: each
handler imports what it uses.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.spec import Scenario


def duration(text: str) -> float:
    """``--horizon``'s type: sim.cli's, imported only when the option is given."""
    from sim.cli import duration as parse

    return parse(text)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hil = sub.add_parser("hil", help="hardware in the loop: real devices running partitions")
    verbs = hil.add_subparsers(dest="verb", required=True)
    calibrate = verbs.add_parser("calibrate", help="profile a model on a device, per layer")
    calibrate.add_argument("--device", required=True, help="tcp://HOST:PORT or serial:///dev/ttyX")
    calibrate.add_argument("--model", required=True, help="a zoo name or an ONNX file")
    calibrate.add_argument("--out", required=True, type=Path)
    calibrate.add_argument("--token")
    calibrate.add_argument("--runs", type=int, default=20)
    calibrate.add_argument("--threads", type=int, default=1)
    calibrate.set_defaults(handler=_calibrate)
    bundle = verbs.add_parser("bundle", help="the agent as one file to copy to a device")
    bundle.add_argument("--out", type=Path, default=Path("edgesim-agent.pyz"))
    bundle.add_argument(
        "--systemd", action="store_true", help="print a systemd unit for it instead"
    )
    bundle.add_argument(
        "--force", action="store_true", help="replace a file at --out that is not a bundle"
    )
    bundle.set_defaults(handler=_bundle)
    check = verbs.add_parser("check", help="one real exchange with a device, checked")
    check.add_argument("--device", required=True, help="tcp://HOST:PORT or serial:///dev/ttyX")
    check.add_argument("--token")
    check.add_argument("--model", default="resnet56", help="a zoo name or an ONNX file")
    check.add_argument("--tolerance", type=float, default=1e-4, help="on the outputs")
    check.set_defaults(handler=_check)
    for verb, handler, text in (
        ("run", _hil_run, "run a scenario in real time with bound devices real"),
        ("validate", _hil_validate, "predict, run on the real devices, compare"),
    ):
        p = verbs.add_parser(verb, help=text)
        p.add_argument("file", type=Path, metavar="FILE")
        p.add_argument("--bind", action="append", default=[], metavar="DEVICE=URL", required=True)
        p.add_argument("--token")
        p.add_argument("--out", type=Path)
        p.add_argument("--horizon", type=duration)
        p.add_argument("--catalog", action="append", default=[], type=Path, metavar="FILE")
        p.add_argument("--force", action="store_true", help="replace the results already in --out")
        p.add_argument("--quiet", action="store_true", help="no progress on stderr")
        p.set_defaults(handler=handler)
        if verb == "validate":
            p.add_argument(
                "--profile",
                action="append",
                default=[],
                metavar="DEVICE=FILE",
                help="reuse a `hil calibrate` profile for a bound device instead of profiling "
                "it again (FILE alone: the one bound device)",
            )


def _bundle(args: argparse.Namespace) -> int:
    from hil.bundle import build, edgesim_version, is_bundle, unit
    from sim.cli import UsageError

    if args.systemd:
        print(unit(), end="")
        return 0
    out: Path = args.out
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: no folder {out.parent}")
    if out.is_dir():
        raise UsageError(
            f"--out {out}: is a folder; name the bundle file, e.g. {out}/edgesim-agent.pyz"
        )
    if out.exists() and not (args.force or is_bundle(out)):
        raise UsageError(
            f"--out {out}: is a file that is not an agent bundle; pass --force to replace it"
        )
    try:
        size = build(out)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write the bundle ({exc.strerror})") from None
    print(f"{args.out}: edgesim-agent {edgesim_version()}, {size / 1024:.0f} KiB; on the device: "
          f"python3 {args.out.name} --listen 0.0.0.0:7070 --token-file FILE")  # fmt: skip
    return 0


def _check(args: argparse.Namespace) -> int:
    import onnxruntime as ort

    from hil.check import exchange
    from hil.client import AgentClient, HilError
    from models.commands import open_model
    from models.measure import feeds
    from sim.cli import UsageError

    name, model = open_model(args.model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = feeds(session)
    try:
        agent = AgentClient.connect(args.device, token=args.token)
        result = exchange(agent, model, inputs)
        agent.close()
    except HilError as exc:
        raise UsageError(str(exc)) from None
    device = result.device
    print(f"{args.device}: {device.get('board') or device.get('machine')}, Python "
          f"{device.get('python')}, onnxruntime {device.get('onnxruntime')}, agent "
          f"{device.get('agent')}, power mode {device.get('power_mode')}, governor "
          f"{device.get('governor')}")  # fmt: skip
    print(f"{name}: {result.compute * 1e3:.2f} ms on the device, {result.round_trip * 1e3:.2f} ms "
          f"round trip, outputs within {result.error:.2g} of this host's")  # fmt: skip
    for line in [*device.get("missing", []), *result.notes]:
        print(f"note: {line}")
    problems = result.problems(args.tolerance, same_clock=False)
    for line in problems:
        print(f"FAILED: {line}")
    return 1 if problems else 0


def _calibrate(args: argparse.Namespace) -> int:
    from hil.client import AgentClient, HilError
    from models.commands import open_model
    from sim.cli import UsageError

    name, model = open_model(args.model)
    try:
        agent = AgentClient.connect(args.device, token=args.token)
        model_id = agent.load(model.SerializeToString(), name, args.threads)
        profile = agent.profile(model_id, model, args.runs, args.threads)
        agent.close()
    except HilError as exc:
        raise UsageError(str(exc)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(profile, indent=2) + "\n", encoding="utf-8")
    print(f"{name} on {args.device}: {profile['end_to_end']['median'] * 1e3:.2f} ms end to end; "
          f"profile in {args.out}")  # fmt: skip
    return 0


def _hil_setup(args: argparse.Namespace) -> tuple[Scenario, dict[str, str]]:
    from hil.bridge import parse_bindings
    from sim.cli import UsageError, override
    from sim.loader import load

    scenario = load(args.file, args.catalog)
    if args.horizon is not None:
        scenario = override(
            scenario, argparse.Namespace(seed=None, replications=None, horizon=args.horizon)
        )
    try:
        return scenario, parse_bindings(args.bind, scenario)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _hil_run(args: argparse.Namespace) -> int:
    from analysis import report
    from analysis.summary import summary as summarise
    from hil.bridge import Bridge
    from hil.client import HilError
    from sim.cli import UsageError, default_out, prepare_out, results_folder
    from sim.progress import Progress

    scenario, bindings = _hil_setup(args)
    out = args.out or default_out(scenario, datetime.now(UTC))
    prepare_out(out, "--out", args.force).rmdir()  # refused before anything runs
    try:
        bridge = Bridge(scenario, bindings, args.token)
        try:
            with Progress("running", quiet=args.quiet) as progress:
                progress.phase("running in real time", scenario.horizon, bridge.now)
                rep = bridge.run()
        finally:
            bridge.close()
    except (HilError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    summary = {"scenario": scenario.name, "bindings": bindings, **summarise([rep], scenario)}
    resolved = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    with results_folder(out, "--out", args.force) as staging:
        report.write(staging, summary, resolved, [rep])
    report.show(summary, f"{scenario.name}: real time, bound {', '.join(bindings)}")
    print(f"results in {out}/")
    return 0


def _hil_validate(args: argparse.Namespace) -> int:
    from analysis import report
    from hil.client import HilError
    from hil.validate import passed, validate
    from sim.cli import UsageError, default_out, results_folder
    from sim.progress import Progress

    scenario, bindings = _hil_setup(args)
    profiles = _profiles(args.profile, bindings)
    out = args.out or default_out(scenario, datetime.now(UTC))
    try:
        with (
            results_folder(out, "--out", args.force) as staging,
            Progress("validating", quiet=args.quiet) as progress,
        ):
            result = validate(scenario, bindings, staging, args.token, profiles=profiles,
                              progress=progress)  # fmt: skip
    except (HilError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    report.show_validation(result)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"results in {out}/")
    return 0 if passed(result) else 1


def _profiles(texts: list[str], bindings: dict[str, str]) -> dict[str, Path]:
    """``--profile DEVICE=FILE`` (or ``FILE`` with one bound device) as a mapping."""
    from sim.cli import UsageError

    out = {}
    bound = ", ".join(sorted(bindings))
    for text in texts:
        device, sep, path = text.rpartition("=")
        if not sep:
            if len(bindings) != 1:
                raise UsageError(f"--profile {text}: name the device, DEVICE=FILE (bound: {bound})")
            device = next(iter(bindings))
        if device not in bindings:
            raise UsageError(f"--profile: device {device!r} is not bound (bound: {bound})")
        if not Path(path).is_file():
            raise UsageError(f"--profile {device}={path}: no such file")
        out[device] = Path(path)
    return out
