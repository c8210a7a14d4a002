"""Fuzzing the loader and the command line with mutated shipped scenarios.

Hypothesis takes a scenario from ``scenarios/`` and changes it the ways a hurried
user (or a broken generator) would: a value swapped for one of another type, a number
made huge, tiny, negative, infinite or NaN, a key deleted, a key given twice, an item
duplicated. Whatever comes out, ``edgesim validate`` must answer 0 or 2, never raise:
every rejection is a line on stderr. Most examples run in process (``sim.cli.main``);
a few run ``validate`` and a tiny ``run`` as real processes with a timeout, so a hang
fails the test instead of stalling it. Zoo-model and HIL scenarios are left out:
building their networks costs seconds per example, and their YAML is no different
in kind.
"""

from __future__ import annotations

import copy
import itertools
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import document
from sim.cli import main
from tests.helpers import ROOT, SCENARIOS

FILES = sorted(
    p
    for p in SCENARIOS.rglob("*.yaml")
    if not any(key in p.read_text(encoding="utf-8") for key in ("model:", "catalog:"))
    and p.parent.name not in ("hil", "sweeps", "catalogs")
)
ORIGINALS = {p: yaml.safe_load(p.read_text(encoding="utf-8")) for p in FILES}

RUNS = itertools.count()
ODD_VALUES = st.sampled_from(
    [None, True, 0, -1, 1e300, -1e300, 1e-300, 1e12, math.inf, -math.inf, math.nan,
     "", "abc", "5ms", "-3/s", "1e300s", [], [1, 2], {}, {"kind": "exponential"}]
)  # fmt: skip


def _places(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in ``tree``."""
    out = [path] if path else []
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += _places(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out += _places(value, (*path, i))
    return out


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        tree = tree[part]
    return tree


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, Path]:  # the text, and the file it came from
    """YAML text of a shipped scenario after one to four mutations."""
    file = draw(st.sampled_from(FILES))
    tree = copy.deepcopy(ORIGINALS[file])
    twice = None
    for _ in range(draw(st.integers(1, 4))):
        places = _places(tree)
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent, key = _parent(tree, path), path[-1]
        kind = draw(st.sampled_from(["swap", "scale", "delete", "duplicate", "twice"]))
        if kind == "swap":
            parent[key] = copy.deepcopy(draw(ODD_VALUES))
        elif kind == "scale" and isinstance(parent[key], int | float):
            parent[key] = parent[key] * draw(st.sampled_from([0, -1, 1e-12, 1e12, 1e300]))
        elif kind == "delete":
            del parent[key]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif kind == "twice" and isinstance(parent, dict) and path[0] == key:
            twice = key
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
    if twice in tree:
        text += yaml.safe_dump({twice: tree[twice]}, sort_keys=False)
    return text, file


def _write(tmp_path: Path, text: str, name: str = "mutant.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutants())
def test_validate_answers_every_mutant(
    case: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """validate exits 0 or 2 without raising; a 2 comes with a line per problem."""
    path = _write(tmp_path, case[0])
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2)
    if code == 2:
        assert err.strip() and all(line.startswith(str(path)) for line in err.splitlines())


def _shortened(text: str) -> str:
    """The mutant with no warm-up, a 1 s horizon and one replication, when it is a mapping."""
    try:
        tree = document.parse(text)  # the loader's own reading (``on:`` stays a string)
    except document.DocumentError:
        return text
    if not isinstance(tree, dict):
        return text
    tree.update(warmup=0, horizon="1s", replications=1)
    return yaml.safe_dump(tree, sort_keys=False)


def test_a_shortened_scenario_really_simulates(tmp_path: Path) -> None:
    """The shortening the process fuzzer applies leaves a shipped scenario runnable."""
    for file in FILES[:3]:
        short = _write(tmp_path, _shortened(file.read_text(encoding="utf-8")), file.name)
        out = tmp_path / f"out-{file.stem}"
        assert main(["run", str(short), "--out", str(out), "--json"]) == 0, file
        assert (out / "summary.json").exists()


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=mutants())
def test_mutants_as_processes_end_in_time(case: tuple[str, Path], tmp_path: Path) -> None:
    """validate and a one-second run, as real processes: 0 or 2, no traceback, no hang.

    The run's mutant is shortened in the file (no warm-up, 1 s, one replication) so that
    it simulates: a ``--horizon 1s`` would only meet the warm-up check of most scenarios.
    """
    path = _write(tmp_path, case[0])
    short = _write(tmp_path, _shortened(case[0]), "short.yaml")
    out = tmp_path / f"out-{next(RUNS)}"
    for args in (
        ["validate", str(path)],
        ["run", str(short), "--out", str(out)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "sim", *args],
            capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
        )  # fmt: skip
        assert done.returncode in (0, 2), done.stderr
        assert "Traceback" not in done.stderr
