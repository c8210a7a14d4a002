"""The agent under every interpreter from 3.8 up that this machine has, each in its own
virtual environment holding only numpy, onnxruntime and pyserial.

The environments are built once per interpreter version under ``.cache/agent-pythons/``
(gitignored), all at once on a cold start (pip fetches for one while it unpacks another);
an interpreter that is missing, or whose pip cannot install the three packages, is
skipped with the reason. Each agent runs from the source tree with ``-X importtime``, so
every module it imports, lazily or not, is listed: of the project, exactly the bundle's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hil.bundle import AGENT_MODULES
from hil.check import exchange
from hil.client import AgentClient
from models import zoo

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "agent-pythons"
MINORS = (8, 9, 10, 11, 12, 13)
PACKAGES = ("numpy", "onnxruntime", "pyserial")
PROJECT = ("hil", "models", "sim", "analysis")


def interpreter(minor: int) -> Path | None:
    """A CPython 3.<minor> on this machine: pyenv's, else one on PATH."""
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = sorted(versions.glob(f"3.{minor}.*/bin/python"))
    if found:
        return found[-1]
    which = shutil.which(f"python3.{minor}")
    return Path(which) if which else None


def _version(python: Path) -> str:
    code = "import platform; print(platform.python_version())"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()  # fmt: skip


def build(minor: int) -> tuple[Path | None, str]:
    """(the environment's python, "") or (None, why it cannot be had)."""
    python = interpreter(minor)
    if python is None:
        return None, f"no Python 3.{minor} on this machine"
    target = CACHE / _version(python)
    if (target / "ready").exists():
        return target / "bin" / "python", ""
    staging = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    steps = ([str(python), "-m", "venv", str(staging)],
             [str(staging / "bin" / "python"), "-m", "pip", "install", "--quiet", *PACKAGES])  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode:
            shutil.rmtree(staging, ignore_errors=True)
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"Python 3.{minor}: {' '.join(step[1:4])} failed: {last}"
    (staging / "ready").write_text(" ".join(PACKAGES) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target / "bin" / "python", ""


@lru_cache(maxsize=1)
def environments() -> dict[int, tuple[Path | None, str]]:
    """Every interpreter's environment, built in parallel the first time."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(MINORS, pool.map(build, MINORS), strict=True))


def environment(minor: int) -> Path:
    python, why = environments()[minor]
    if python is None:
        pytest.skip(why)
    return python


def oldest() -> Path:
    """The oldest interpreter's environment (3.8 where the machine has it)."""
    for minor in MINORS:
        python, _ = environments()[minor]
        if python is not None:
            return python
    pytest.skip("no Python 3.8 or later could get numpy, onnxruntime and pyserial")


def start(command: list[str], tmp: Path, env: dict[str, str] | None = None
          ) -> tuple[subprocess.Popen[str], str]:  # fmt: skip
    """An agent started with ``command`` in ``tmp`` (stderr to ``tmp/stderr``); its URL."""
    proc = subprocess.Popen(command, cwd=tmp, stdout=subprocess.PIPE, text=True,
                            stderr=(tmp / "stderr").open("w"), env=env)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on 127.0.0.1:"):
        proc.kill()
        pytest.fail(f"agent did not start: {line!r} {(tmp / 'stderr').read_text()[-2000:]}")
    return proc, f"tcp://127.0.0.1:{line.rsplit(':', 1)[1]}"


def stop(proc: subprocess.Popen[str]) -> int:
    """SIGTERM, and the exit status (it must end within 20 s)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


def run_exchange(url: str, token: str | None = None) -> tuple[dict[str, object], list[str]]:
    """The full exchange against ``url``: (device information, problems)."""
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    agent = AgentClient.connect(url, token=token)
    result = exchange(agent, zoo.load("resnet56"), {"input": x})
    agent.close()
    return result.device, result.problems(1e-5, same_clock=True) + result.notes


def project_modules(importtime: str) -> set[str]:
    """The project's modules named in ``-X importtime`` output."""
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", importtime, re.M)
    return {n for n in names if n.split(".")[0] in PROJECT}


@pytest.mark.hil
@pytest.mark.parametrize("minor", MINORS, ids=[f"py3.{m}" for m in MINORS])
def test_agent_exchange_under_each_interpreter(minor: int, tmp_path: Path) -> None:
    """Load, infer (equal to this host's onnxruntime), heartbeat, clock, profile and a
    slow fault against the agent under Python 3.<minor>; SIGTERM ends it with status 0;
    of the project it imported exactly the bundle's modules."""
    python = environment(minor)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    main = "import sys; from hil.agent import main; sys.exit(main())"  # as the bundle does
    command = [str(python), "-X", "importtime", "-c", main, "--listen", "127.0.0.1:0",
               "--allow-faults", "--cache", str(tmp_path / "cache")]  # fmt: skip
    proc, url = start(command, tmp_path, env)
    try:
        device, problems = run_exchange(url)
    finally:
        status = stop(proc)
    assert problems == []
    assert str(device["python"]).startswith(f"3.{minor}.") and device["missing"] == []
    assert status == 0, (tmp_path / "stderr").read_text()[-2000:]
    expected = {
        m.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for m in AGENT_MODULES
    }
    assert project_modules((tmp_path / "stderr").read_text()) == expected
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".onnx"]
