"""Progress of long work (sim.progress): a bar on a terminal, one line per step
otherwise, nothing with --quiet, and nothing at all in the first second."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from sim import progress
from sim.cli import main
from tests.helpers import SCENARIOS


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_line_per_finished_step_when_not_a_terminal() -> None:
    """Fractions count on the bar only: a line when a whole step is done."""
    out = io.StringIO()
    with progress.Progress("simulating", 3, stream=out, delay=0) as p:
        for done in (0.5, 1.0, 1.5, 2.25, 3.0):
            p.update(done)
    assert out.getvalue().splitlines() == [f"edgesim: simulating: {k}/3" for k in (1, 2, 3)]


def test_nothing_in_the_first_second_and_nothing_when_quiet() -> None:
    for p in (progress.Progress("x", 2, stream=io.StringIO(), delay=60),
              progress.Progress("x", 2, stream=Terminal(), quiet=True, delay=0)):  # fmt: skip
        with p:
            p.phase("a phase")
            p.update(2)
        assert p.stream.getvalue() == ""  # type: ignore[attr-defined]


def test_a_phase_is_a_line_once_the_first_second_has_passed() -> None:
    """A phase begun before the delay is printed by the ticker when it passes."""
    out = io.StringIO()
    with progress.Progress("validating", stream=out, delay=0.3) as p:
        p.phase("calibration calls")
        assert out.getvalue() == ""
        time.sleep(0.3 + 3 * progress.POLL)
    assert out.getvalue() == "edgesim: calibration calls\n"


def test_a_bar_on_a_terminal() -> None:
    """On a terminal, rich draws the bar, polling the phase's clock."""
    out = Terminal()
    clock = iter(range(1000))
    with progress.Progress("measuring", stream=out, delay=0) as p:
        p.phase("measuring in real time", 20.0, lambda: float(next(clock)))
        time.sleep(3 * progress.POLL)
    assert "measuring in real time" in out.getvalue()


@pytest.mark.parametrize("quiet", [False, True])
def test_run_and_sweep_report_their_steps_unless_quiet(
    quiet: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` counts replications, `sweep` runs; --quiet silences both (stdout unchanged)."""
    monkeypatch.setattr(progress, "DELAY", 0.0)
    flag = ["--quiet"] if quiet else []
    quick = str(SCENARIOS / "quickstart.yaml")
    assert main(["run", quick, "--horizon", "6s", "--replications", "2", "--workers", "1",
                 "--out", f"{tmp_path}/r", *flag]) == 0  # fmt: skip
    run_err = capsys.readouterr().err
    assert main(["sweep", quick, "--set", "horizon=6s,7s", "--replications", "1", "--executor",
                 "inprocess", "--out", f"{tmp_path}/s", *flag]) == 0  # fmt: skip
    sweep_err = capsys.readouterr().err
    if quiet:
        assert run_err == "" and sweep_err == ""
    else:
        steps = [line for line in run_err.splitlines() if "building zoo model" not in line]
        assert steps == ["edgesim: simulating: 1/2", "edgesim: simulating: 2/2"]
        assert len(sweep_err.splitlines()) == 2 and "run 2/2" in sweep_err


def test_a_zoo_build_says_so_unless_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slow model work reports through models.notice, which edgesim points at sim.progress."""
    from models import notice, zoo

    monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path))
    for quiet, cached in ((False, "a"), (True, "b")):
        out = io.StringIO()
        monkeypatch.setenv("EDGESIM_CACHE", str(tmp_path / cached))
        notice.install(progress.reporter(quiet, stream=out, delay=0))
        try:
            zoo.path("cnn_student", width=2)
        finally:
            notice.install(None)
        said = out.getvalue().splitlines()
        assert said == (
            []
            if quiet
            else ["edgesim: building zoo model cnn_student-width2 (first use, then cached)"]
        )


def test_steps_of_model_work_are_lines() -> None:
    from models import notice

    out = io.StringIO()
    notice.install(progress.reporter(False, stream=out, delay=0))
    try:
        with notice.working("training m", 2) as step:
            step(1, "validation accuracy 50.0 %")
            step(2, "validation accuracy 60.0 %")
    finally:
        notice.install(None)
    assert out.getvalue().splitlines() == [
        "edgesim: training m",
        "edgesim: training m: 1/2 validation accuracy 50.0 %",
        "edgesim: training m: 2/2 validation accuracy 60.0 %",
    ]
