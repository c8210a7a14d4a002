"""What the agent says about its device in ``HELLO_ACK``, and its own version.

Calibration holds for one board in one power mode: a Jetson in ``MODE_10W`` runs a model
at half the speed it does in ``MAXN``, a Raspberry Pi on the ``powersave`` governor at
a fraction of ``ondemand``'s. So beside the interpreter and onnxruntime the agent reports
the board model (the device tree's ``model``, e.g. "Raspberry Pi 4 Model B Rev 1.4"),
the Jetson power mode (``nvpmodel -q`` where the tool exists), the CPU frequency
governor and, on a Jetson, rail power from its INA3221 monitor. ``hil calibrate`` keeps
them in the profile and ``hil validate`` warns when the device no longer matches
(:data:`CALIBRATION_KEYS`). Where this onnxruntime lacks an API the agent uses, the
agent degrades (see :func:`missing_apis`) and says so under ``missing``.

Agent side: standard library and onnxruntime only, Python 3.8 or later.
"""

from __future__ import annotations

import os
import pkgutil
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import onnxruntime as ort

# what a profile's measurements depend on beyond the machine: compared by hil validate
CALIBRATION_KEYS = ("board", "power_mode", "governor")

# onnxruntime APIs the agent relies on, and what stops working without each
NEEDED_APIS = {
    "SessionOptions.add_session_config_entry": "profile (thread spinning cannot be turned off)",
    "SessionOptions.enable_profiling": "profile (no per-layer times)",
    "InferenceSession.end_profiling": "profile (no per-layer times)",
    "get_available_providers": "providers are not reported",
}


def version() -> str:
    """The agent's version: stamped into a bundle, else the installed edgesim's."""
    stamped = pkgutil.get_data("hil", "VERSION") if _in_bundle() else None
    if stamped:
        return stamped.decode().strip()
    try:
        from importlib.metadata import version as installed

        return installed("edgesim")
    except Exception:  # not installed (a copied folder): say so rather than guess
        return "unknown"


def _in_bundle() -> bool:
    return not Path(__file__).parent.is_dir()  # inside a zip archive


def describe(threads: int) -> dict[str, Any]:
    """The device information of ``HELLO_ACK`` (and of a profile's ``device``)."""
    providers = ort.get_available_providers() if hasattr(ort, "get_available_providers") else []
    return {
        "agent": version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "providers": providers,
        "cores": os.cpu_count(),
        "threads": threads,
        "power": rail_power(),
        "board": board(),
        "power_mode": power_mode(),
        "governor": governor(),
        "missing": missing_apis(),
    }


def missing_apis() -> list[str]:
    """Each API in :data:`NEEDED_APIS` this onnxruntime lacks, with what it costs."""
    out = []
    for name, cost in NEEDED_APIS.items():
        owner: Any = ort
        for part in name.split("."):
            owner = getattr(owner, part, None)
        if owner is None:
            out.append(f"{name}: {cost}")
    return out


def board(root: Path = Path("/")) -> str | None:
    """The device tree's model string (Jetsons, Raspberry Pis), or None."""
    for where in ("proc/device-tree/model", "sys/firmware/devicetree/base/model"):
        try:
            text = (root / where).read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        return text.strip("\x00\n ") or None
    return None


def power_mode() -> str | None:
    """The Jetson power mode as ``nvpmodel -q`` names it (``MODE_15W_6CORE``), or None."""
    path = shutil.which("nvpmodel")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "-q"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvpmodel(done.stdout)


def parse_nvpmodel(text: str) -> str | None:
    """``NV Power Mode: MODE_20W_6CORE`` and the mode's number on the next line, as
    ``MODE_20W_6CORE (8)``."""
    found = re.search(r"NV Power Mode:[ \t]*(\S+)[ \t]*(?:\r?\n[ \t]*(\d+))?", text)
    if found is None:
        return None
    name, number = found.groups()
    return name if number is None else f"{name} ({number})"


def governor(root: Path = Path("/")) -> str | None:
    """The CPU frequency governor(s), e.g. ``schedutil``; several joined by ``,`` when
    clusters differ; None without cpufreq (most virtual machines)."""
    found = set()
    for path in (root / "sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"):
        try:
            found.add(path.read_text().strip())
        except OSError:
            continue
    return ",".join(sorted(found)) or None


def rail_power() -> dict[str, float] | None:
    """Instantaneous rail power (W) from a Jetson's INA3221 monitor, where the board has one."""
    rails = {}
    for root in Path("/sys/bus/i2c/drivers/ina3221").glob("*/hwmon/hwmon*"):
        for label in root.glob("in*_label"):
            index = label.name[2]
            volts, amps = root / f"in{index}_input", root / f"curr{index}_input"
            try:
                rails[label.read_text().strip()] = (
                    int(volts.read_text()) * int(amps.read_text()) * 1e-6
                )
            except (OSError, ValueError):
                continue
    return rails or None
