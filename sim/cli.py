"""The ``edgesim`` command: the one place where loading, simulation and analysis meet.

Exit status: 0 on success, 2 for bad input (every problem printed on its own
line as ``FILE: dotted.path: message (got VALUE)``, no traceback), 141 when the
reader of standard output went away (``edgesim run --json | head``), as for any
command killed by SIGPIPE.

Before a run simulates anything, its size is estimated (:mod:`sim.budget`) and its
results folder checked: a run over the event-count limit, or a folder that is a file,
cannot be written or already holds results, is refused with exit 2 (``--force`` runs
the large run and replaces the old results). Results are written into a fresh folder
beside the target and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.records import Replication
    from sim.spec import Scenario

log = logging.getLogger("edgesim")


class UsageError(Exception):
    """A command-line value that makes no sense for the scenario."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="edgesim: %(message)s")
    from models import notice
    from sim.progress import reporter

    notice.install(reporter(getattr(args, "quiet", False)))  # until the command returns
    # imported once the arguments are parsed, so that `edgesim --help` stays light
    from models import ModelError
    from models.commands import ModelInputError
    from sim.loader import ScenarioError

    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (UsageError, ModelInputError, ModelError) as exc:
        print(f"edgesim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgesim: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        notice.install(None)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgesim",
        description="Simulate DNN inference split across edge devices and links.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument("--catalog", action="append", default=[], type=Path, metavar="FILE")
    validate.add_argument(
        "--resilience",
        action="store_true",
        help="also report whether the service survives any single device or link failure",
    )
    validate.add_argument("--force", action="store_true", help="accept runs over the event limit")
    validate.set_defaults(handler=_validate)

    run = sub.add_parser("run", help="simulate a scenario and write its results")
    run.add_argument("file", type=Path, metavar="FILE")
    run.add_argument("--seed", type=_natural, help="override the scenario's seed")
    run.add_argument("--replications", type=_positive, help="override the replication count")
    run.add_argument("--horizon", type=duration, help="override the horizon, e.g. 30s")
    run.add_argument("--out", type=Path, help="output folder (default results/NAME-TIME)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    run.add_argument(
        "--report",
        action="store_true",
        help="also write report.html with figures into the results folder",
    )
    run.add_argument(
        "--baseline",
        choices=["none"],
        help="also run without failures, with and without the policy, and report its overhead",
    )
    run.add_argument("--catalog", action="append", default=[], type=Path, metavar="FILE")
    run.add_argument(
        "--force",
        action="store_true",
        help="run beyond the event limit, and replace results already in the output folder",
    )
    add_run_options(run)
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    run.add_argument(
        "--workers",
        type=_positive,
        help="replications run in parallel on this many processes (default: the cores "
        "available); the results are those of a serial run",
    )
    run.set_defaults(handler=_run)

    analyze = sub.add_parser("analyze", help="evaluate a scenario analytically, without simulating")
    analyze.add_argument("file", type=Path, metavar="FILE")
    analyze.add_argument("--json", action="store_true", help="print the figures as JSON")
    analyze.add_argument(
        "--compare", action="store_true", help="also simulate and show both side by side"
    )
    analyze.add_argument("--catalog", action="append", default=[], type=Path, metavar="FILE")
    analyze.add_argument(
        "--force", action="store_true", help="with --compare: simulate beyond the event limit"
    )
    analyze.add_argument("--quiet", action="store_true", help="no progress on stderr")
    analyze.add_argument(
        "--out",
        type=Path,
        help="with --compare: write the simulated run's folder there, with analytic.json",
    )
    analyze.add_argument(
        "--report", action="store_true", help="with --compare --out: also write report.html"
    )
    analyze.set_defaults(handler=_analyze)

    plan = sub.add_parser("plan", help="evaluate every split of a pipeline and mark the best")
    plan.add_argument("file", type=Path, metavar="FILE")
    plan.add_argument("--pipeline", help="the pipeline to split (default: all alike)")
    plan.add_argument(
        "--objective", choices=["latency", "p95", "energy", "bytes"], default="latency"
    )
    plan.add_argument(
        "--place",
        action="store_true",
        help="search cuts and placements: any number of parts, each on any device",
    )
    plan.add_argument(
        "--devices", help="with --place or --graph: the devices to place on, comma-separated"
    )
    plan.add_argument(
        "--keep", type=int, default=8, help="with --place or --graph: candidates kept"
    )
    plan.add_argument(
        "--graph", help="place the actors of this graph on devices (docs/planning.md)"
    )
    plan.add_argument(
        "--strategy",
        metavar="KIND",
        help="print a system's plan: rocoin (the grouping, docs/rocoin.md), robustdice (channels, "
        "memory and FLOPs per device, docs/robustdice.md), or the allocation per source of the "
        "MDI pipelines under pa-mdi, ms-mdi, ar-mdi or local (docs/pa-mdi.md)",
    )
    plan.add_argument("--rho", type=float, help="with --strategy robustdice: replication ratio")
    plan.add_argument("--method", help="with --strategy robustdice: the placement method")
    plan.add_argument("--json", action="store_true")
    plan.add_argument("--catalog", action="append", default=[], type=Path, metavar="FILE")
    plan.add_argument(
        "--min-group", type=_positive, default=1, help="with --strategy rocoin: f + 1"
    )
    plan.add_argument(
        "--target", type=float, help="with --strategy rocoin: P(every group answers) at least"
    )
    plan.set_defaults(handler=_plan)

    from hil.commands import register as register_hil
    from models.commands import register as register_models
    from sim.report_cli import register as register_report
    from sim.sweep_cli import register as register_sweep

    register_sweep(sub)
    register_hil(sub)
    register_models(sub)
    register_report(sub)
    return parser


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--records`` and ``--format``: how much of each request a run keeps, and how."""
    parser.add_argument(
        "--records",
        choices=["none", "summary", "all"],
        default="all",
        help="all: every request, written to the requests file; summary: streaming "
        "statistics only (memory bounded whatever the horizon); none: no requests file",
    )
    parser.add_argument(
        "--format",
        choices=["parquet", "csv"],
        default="parquet",
        help="the requests file's format (default parquet)",
    )


def _validate(args: argparse.Namespace) -> int:
    from sim.loader import ScenarioError, load

    failed = False
    for file in args.files:
        try:
            s = load(file, args.catalog)
            if not args.force:
                within_budget(s, str(file))
        except ScenarioError as exc:
            print(exc, file=sys.stderr)
            failed = True
            continue
        from sim.graph.expand import graphs

        resolved = graphs(s)
        sources = len(s.workload) + sum(len(g.sources) for g in resolved)
        print(
            f"{file}: ok ({len(s.devices)} devices, {len(s.links)} links, "
            f"{len(s.pipelines)} pipelines, {len(resolved)} graphs, {sources} sources)"
        )
        if args.resilience:
            _resilience(file, s)
    return 2 if failed else 0


def _resilience(file: Path, scenario: Scenario) -> None:
    from sim.servable import single_points_of_failure

    weak = single_points_of_failure(scenario)
    if not weak:
        print(f"{file}: survives any single device or link failure")
        return
    for w in weak:
        names = ", ".join(w.sources[:5])
        more = f" and {len(w.sources) - 5} more" if len(w.sources) > 5 else ""
        print(f"{file}: single point of failure: {w.kind} {w.component} (stops {names}{more})")


def _run(args: argparse.Namespace) -> int:
    from analysis import report
    from sim.experiment.executors import cores
    from sim.loader import load
    from sim.progress import Progress
    from sim.run import run

    scenario = override(load(args.file, args.catalog), args)
    if not args.force:
        within_budget(scenario, str(args.file))
    workers = min(args.workers or cores(), scenario.replications)
    started = datetime.now(UTC)
    out, what = _out(args, scenario, started)
    with results_folder(out, what, args.force) as staging, Progress(quiet=args.quiet) as progress:
        clock = time.perf_counter()
        reps = run(scenario, progress=progress.replications(scenario.replications),
                   workers=workers, records=args.records)  # fmt: skip
        wall = time.perf_counter() - clock
        summary = _summary(scenario, reps, started, wall)
        if args.baseline:
            progress.phase("fault-free runs with and without the policy (--baseline none)")
            summary["overhead"] = _overhead(scenario, workers)
        resolved = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
        requests = scenario.outputs.requests and args.records == "all"
        report.write(staging, summary, resolved, reps, requests=requests, fmt=args.format)
    if args.json:
        print(json.dumps(report.jsonable(summary), indent=2, allow_nan=False))
    else:
        report.show(summary, f"{scenario.name}: {scenario.replications} replication(s)")
        print(f"results in {out}/")
    if args.report:
        from sim.report_cli import report as page

        written = page(out)
        if not args.json:
            print(f"report in {written}")
    return 0


def _summary(
    scenario: Scenario, reps: Sequence[Replication], started: datetime, wall: float
) -> dict[str, Any]:
    from analysis.summary import summary as summarise

    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "replications": scenario.replications,
        "horizon": scenario.horizon,
        "warmup": scenario.warmup,
        **summarise(reps, scenario),
        "run": {"started": started.isoformat(timespec="seconds"), "wall_seconds": round(wall, 3)},
    }
    return summary


def within_budget(scenario: Scenario, file: str) -> None:
    """Raise :class:`ScenarioError` when the run's estimated events pass the limit."""
    from sim.budget import LIMIT, excess
    from sim.loader import Problem, ScenarioError

    found = excess(scenario)
    if found is None:
        return
    part, total = found
    message = (
        f"the run would process about {total:.2g} events, over the limit of {LIMIT:.0e} "
        f"({part.events:.2g} from here); shorten the horizon, lower rates or replications, "
        "or pass --force"
    )
    raise ScenarioError(file, [Problem(part.path, message)])


def _out(args: argparse.Namespace, scenario: Scenario, started: datetime) -> tuple[Path, str]:
    """The results folder and what set it (for messages)."""
    if args.out is not None:
        return args.out, "--out"
    if scenario.outputs.dir is not None:
        return scenario.outputs.dir, "outputs.dir"
    out = default_out(scenario, started)
    for n in range(2, 1000):
        if not out.exists():
            break
        out = out.with_name(f"{default_out(scenario, started).name}-{n}")
    return out, "results folder"


def prepare_out(out: Path, what: str, force: bool) -> Path:
    """Check, before simulating, that ``out`` can take a run's results; return a fresh
    folder beside it to write them into (see :func:`publish`).

    A file, an unwritable place, or a folder that already holds something (unless
    ``force``) is a :class:`UsageError` naming ``what`` set the folder.
    """
    out = out.resolve()
    here = Path.cwd().resolve()
    if out == here or out in here.parents or out.is_mount():
        raise UsageError(
            f"{what}: {out} cannot be replaced by a results folder (it is the current "
            "folder, one above it, or a mount point); name a folder inside it"
        )
    blocked = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise UsageError(f"{what}: {blocked} is a file, so {out} cannot be a folder")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{what}: {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(
            f"{what}: {out} already holds results; choose another folder, or pass --force "
            "to replace them"
        )
    staging = out.parent / f".{out.name}.{os.getpid()}.partial"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as exc:
        raise UsageError(f"{what}: cannot write results in {out} ({exc.strerror})") from None
    return staging


@contextlib.contextmanager
def results_folder(out: Path, what: str, force: bool) -> Iterator[Path]:
    """A fresh folder to write a run's results into, published as ``out`` when the block
    ends normally and removed when it raises (see :func:`prepare_out`, :func:`publish`)."""
    staging = prepare_out(out, what, force)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        publish(staging, out.resolve())
    except OSError as exc:
        raise UsageError(
            f"{what}: could not move the results into {out} ({exc.strerror}); "
            f"they are complete in {staging}"
        ) from None


def publish(staging: Path, out: Path) -> None:
    """Move complete results from ``staging`` to ``out``, replacing what was there.

    The old folder is moved aside first and removed only once the new one is in place,
    so ``out`` holds either the old results or the new ones, never a mixture.
    """
    if out.exists():
        old = out.parent / f".{out.name}.{os.getpid()}.old"
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old)
    else:
        staging.rename(out)


def _overhead(scenario: Scenario, workers: int = 1) -> dict[str, Any]:
    """The policy's cost when nothing fails: fault-free runs with and without it (CRN)."""
    from analysis.compare import overhead
    from sim.run import run
    from sim.variants import fault_free, without_policy

    calm = fault_free(scenario)
    return overhead(run(calm, workers=workers), run(without_policy(calm), workers=workers))


def _analyze(args: argparse.Namespace) -> int:
    from analysis import report
    from analysis.analytic import analyze
    from sim.loader import load

    if (args.out is not None or args.report) and not args.compare:
        raise UsageError("--out and --report: only with --compare (a simulated run to write)")
    if args.report and args.out is None:
        raise UsageError("--report: give --out DIR, the folder the report goes in")
    scenario = load(args.file, args.catalog)
    clock = time.perf_counter()
    figures = analyze(scenario)
    figures["wall_seconds"] = round(time.perf_counter() - clock, 4)
    if args.compare:
        _compare(scenario, figures, args)
    if args.json:
        print(json.dumps(report.jsonable(figures), indent=2, allow_nan=False))
    else:
        report.show_analytic(figures)
    return 0


def _compare(scenario: Scenario, figures: dict[str, Any], args: argparse.Namespace) -> None:
    """Simulate ``scenario`` and set the run beside ``figures``; with ``--out``, the run's
    folder with ``analytic.json`` beside its ``summary.json`` (what ``edgesim report`` draws
    the analytic marks from)."""
    from analysis import report
    from analysis.compare import analytic_vs_simulated
    from sim.progress import Progress
    from sim.run import run

    if not args.force:
        within_budget(scenario, str(args.file))
    started = datetime.now(UTC)
    staging = None if args.out is None else prepare_out(args.out, "--out", args.force)
    try:
        with Progress(quiet=args.quiet) as progress:
            clock = time.perf_counter()
            reps = run(scenario, progress=progress.replications(scenario.replications))
        summary = _summary(scenario, reps, started, time.perf_counter() - clock)
        figures["comparison"] = analytic_vs_simulated(figures, summary)
        if staging is not None:
            resolved = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
            report.write(staging, summary, resolved, reps)
            text = json.dumps(report.jsonable(figures), indent=2, allow_nan=False)
            (staging / "analytic.json").write_text(text + "\n", encoding="utf-8")
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if staging is not None:
        publish(staging, args.out.resolve())
        if args.report:
            from sim.report_cli import report as page

            page(args.out)


def _plan(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from analysis import report
    from analysis.planner import plan
    from sim.loader import load

    scenario = load(args.file, args.catalog)
    if args.strategy is not None:
        if args.strategy not in PLANNERS:
            known = ", ".join(PLANNERS)
            raise UsageError(f"--strategy: unknown kind {args.strategy!r}; choose one of {known}")
        return PLANNERS[args.strategy](scenario, args)
    if args.pipeline is not None and args.pipeline not in scenario.pipelines:
        known = ", ".join(scenario.pipelines)
        raise UsageError(f"--pipeline: unknown pipeline {args.pipeline!r} (known: {known})")
    if args.graph is not None:
        return _place_graph(scenario, args)
    if args.place:
        return _place(scenario, args)
    try:
        options = plan(scenario, args.pipeline)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    best = min(options, key=lambda o: o.score(args.objective))
    if args.json:
        rows = [asdict(o) | {"best": o is best} for o in options]
        print(json.dumps(report.jsonable(rows), indent=2, allow_nan=False))
    else:
        report.show_plan(options, best, args.objective, scenario.name)
    return 0


def _system_plan(scenario: Scenario, args: argparse.Namespace) -> int:
    """Print the plan of every graph built by the system ``args.strategy``."""
    from sim.graph.systems import SYSTEMS

    made = {n: g.system for n, g in scenario.graphs.items() if g.system is not None}
    chosen = {n: spec for n, spec in made.items() if spec.kind == args.strategy}
    if not chosen:
        raise UsageError(f"--strategy: no graph of {scenario.name} is a {args.strategy} system")
    update: dict[str, Any] = {}
    if args.rho is not None:
        if not 0 <= args.rho <= 1:
            raise UsageError(f"--rho: must be within 0 and 1 (got {args.rho:g})")
        update["rho"] = args.rho
    if args.method is not None:
        update["method"] = args.method
    system = SYSTEMS[args.strategy]
    for name, spec in chosen.items():
        spec = type(spec).model_validate(spec.model_dump() | update)
        graph = scenario.graphs[name].model_copy(update={"system": spec})
        probe = scenario.model_copy(update={"graphs": {**scenario.graphs, name: graph}})
        problems = system.problems(probe, name, spec)
        if problems:
            raise UsageError(problems[0].line("--strategy"))
        print("\n".join(system.plan(probe, name, spec) or []))
    return 0


def _rocoin(scenario: Scenario, args: argparse.Namespace) -> int:
    from analysis.rocoin_show import show

    if args.target is not None and not 0 < args.target <= 1:
        raise UsageError(f"--target: a probability in (0, 1] (got {args.target})")
    objective = "p95" if args.objective == "p95" else "mean"
    try:
        print(show(scenario, args.min_group, args.target, objective, args.json))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _mdi(scenario: Scenario, args: argparse.Namespace) -> int:
    from sim.mdi.allocation import command

    try:
        print(command(scenario, args.strategy, args.json))
    except ValueError as exc:
        raise UsageError(f"--strategy: {exc}") from None
    return 0


PLANNERS: dict[str, Callable[[Scenario, argparse.Namespace], int]] = {
    "rocoin": _rocoin,
    "robustdice": _system_plan,
    **dict.fromkeys(("pa-mdi", "ms-mdi", "ar-mdi", "local"), _mdi),
}
"""``edgesim plan --strategy KIND``: each system's planner."""


def _place(scenario: Scenario, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from analysis import report
    from analysis.placement import place

    if args.keep < 1:
        raise UsageError(f"--keep: give at least 1 (got {args.keep})")
    devices = args.devices.split(",") if args.devices else None
    try:
        plans = place(scenario, args.pipeline, devices, args.objective, args.keep)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        rows = [asdict(p) | {"plan": p.label, "best": i == 0} for i, p in enumerate(plans)]
        print(json.dumps(report.jsonable(rows), indent=2, allow_nan=False))
    else:
        report.show_placement(plans, args.objective, scenario.name)
    return 0


def _place_graph(scenario: Scenario, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from analysis import report
    from analysis.graph_placement import place, problem_size
    from analysis.graph_plan_view import show

    if args.keep < 1:
        raise UsageError(f"--keep: give at least 1 (got {args.keep})")
    devices = args.devices.split(",") if args.devices else None
    try:
        found = place(scenario, args.graph, devices, args.objective, args.keep)
        method = problem_size(scenario, args.graph, devices, args.objective, args.keep)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        rows = [asdict(c) | {"placement": c.label, "best": i == 0} for i, c in enumerate(found)]
        print(json.dumps(report.jsonable(rows), indent=2, allow_nan=False))
    else:
        show(found, args.objective, f"{scenario.name}, graph {args.graph}", method)
    return 0


def override(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    """``scenario`` with the command line's seed, replications and horizon, re-validated."""
    update: dict[str, Any] = {}
    if args.seed is not None:
        update["seed"] = args.seed
    if args.replications is not None:
        update["replications"] = args.replications
    if args.horizon is not None:
        if args.horizon <= scenario.warmup:
            raise UsageError(
                f"--horizon: must be longer than the warm-up ({scenario.warmup:g} s) "
                f"(got {args.horizon:g} s)"
            )
        update["horizon"] = args.horizon
    if not update:
        return scenario
    from sim.loader import revised

    return revised(scenario, str(getattr(args, "file", "<command line>")), **update)


def default_out(scenario: Scenario, started: datetime) -> Path:
    return Path("results") / f"{scenario.name}-{started.strftime('%Y%m%d-%H%M%S')}"


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None


def _natural(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def _positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def duration(text: str) -> float:
    from sim.quantities import LONGEST, TIME_UNITS, parse

    try:
        value = parse(text, TIME_UNITS, "a duration", "30s", LONGEST, "s")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive (got {text})")
    return value
