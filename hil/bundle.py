"""``edgesim hil bundle``: the agent as one file to copy to a device, and its systemd unit.

The bundle is a zipapp (the standard library's :mod:`zipapp`) holding the agent's modules
and only those (:data:`AGENT_MODULES`: the tests check that the agent imports nothing else
from the project), a ``__main__`` that runs :func:`hil.agent.main` and the version it was
built from, so on the device::

    python3 edgesim-agent.pyz --listen 0.0.0.0:7070 --token-file /etc/edgesim-agent.token
    python3 edgesim-agent.pyz --version

needs only Python 3.8 or later with numpy, onnxruntime and pyserial installed. Host side.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipapp
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AGENT_MODULES = (
    "hil/__init__.py",
    "hil/agent.py",
    "hil/device_info.py",
    "hil/protocol.py",
    "hil/supervisor.py",
    "hil/transport.py",
    "models/__init__.py",
    "models/measure.py",
)
MAIN = "import sys\n\nfrom hil.agent import main\n\nsys.exit(main())\n"
UNIT = Path(__file__).with_name("edgesim-agent.service")


def edgesim_version() -> str:
    try:
        return installed("edgesim")
    except PackageNotFoundError:
        return "unknown"


SHEBANG = b"#!/usr/bin/env python3\n"


def build(out: Path) -> int:
    """Write the bundle to ``out`` (whole: a partly written bundle never lies there);
    returns its size in bytes."""
    with tempfile.TemporaryDirectory() as folder:
        staging = Path(folder) / "agent"
        for module in AGENT_MODULES:
            target = staging / module
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / module, target)
        (staging / "hil" / "VERSION").write_text(edgesim_version() + "\n", encoding="utf-8")
        (staging / "__main__.py").write_text(MAIN, encoding="utf-8")
        partial = out.with_name(f".{out.name}.partial")
        try:
            zipapp.create_archive(
                staging, partial, interpreter="/usr/bin/env python3", compressed=True
            )
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return out.stat().st_size


def is_bundle(path: Path) -> bool:
    """Whether ``path`` is an agent bundle this command wrote (safe to replace)."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SHEBANG) + 2)
    except OSError:
        return False
    return head == SHEBANG + b"PK"


def unit() -> str:
    """The systemd unit for the agent (docs/hil.md, section 1)."""
    return UNIT.read_text(encoding="utf-8")
