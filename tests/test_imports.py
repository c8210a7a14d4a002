"""What each command imports: a command pays only for the libraries its work needs.

Measured by module sets, not time: each command runs in a fresh interpreter
(``sim.cli.main`` with its arguments) that then lists ``sys.modules``. ``--help``
needs only the standard library; checking a scenario needs the loader's libraries
but no statistics, tables, cluster or runtime; a serial run needs no cluster and no
ONNX.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import contextlib, io, json, sys
from sim.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

HEAVY = (
    "numpy", "pydantic", "simpy", "networkx", "scipy", "yaml", "rich", "pyarrow", "pandas",
    "dask", "distributed", "onnx", "onnxruntime",
)  # fmt: skip
NEVER_TO_CHECK = ("scipy", "pyarrow", "pandas", "dask", "distributed", "onnxruntime")
NEVER_TO_RUN = ("scipy.stats", "pandas", "dask", "distributed", "onnx", "onnxruntime")


def imported(*argv: str, cwd: Path = ROOT) -> set[str]:
    """The modules loaded by ``edgesim ARGV`` (which must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], cwd=cwd, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] in (0, None), (argv, result["code"], done.stderr)
    return set(result["modules"])


def among(loaded: set[str], packages: tuple[str, ...]) -> set[str]:
    """The ``packages`` (or modules of them) that were loaded."""
    return {p for p in packages for m in loaded if m == p or m.startswith(p + ".")}


@pytest.mark.parametrize(
    "argv", [("--help",), ("run", "--help"), ("validate", "--help"), ("model", "--help")]
)
def test_help_imports_only_the_standard_library(argv: tuple[str, ...]) -> None:
    assert among(imported(*argv), HEAVY) == set()


def test_importing_sim_loads_none_of_its_libraries() -> None:
    code = f"import sys, sim, sim.cli; print(sorted(set({HEAVY!r}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validate_loads_no_statistics_tables_cluster_or_runtime() -> None:
    loaded = imported("validate", "scenarios/quickstart.yaml")
    assert "pydantic" in loaded  # the probe saw the check happen
    assert among(loaded, NEVER_TO_CHECK) == set()


def test_a_serial_run_loads_no_cluster_and_no_onnx(tmp_path: Path) -> None:
    scenario = ROOT / "scenarios" / "reference" / "mm1.yaml"
    out = tmp_path / "out"
    loaded = imported("run", str(scenario), "--replications", "1", "--horizon", "30s",
                      "--out", str(out))  # fmt: skip
    assert (out / "summary.json").is_file()
    assert among(loaded, NEVER_TO_RUN) == set()


def test_sim_run_is_the_function_whichever_is_imported_first() -> None:
    """Importing the submodule ``sim.run`` first (as the CLI does) leaves ``sim.run`` the
    function that ``from sim import run`` has always given."""
    code = (
        "import types, sim.run\n"
        "from sim import run\n"
        "import sim\n"
        "print(isinstance(run, types.FunctionType), sim.run is run)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
