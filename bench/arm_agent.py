"""``make test-arm``: the bundled agent on a real ARM64 Debian userland, emulated.

Builds (once, under ``.cache/arm64/``) an arm64 Debian bookworm root with mmdebstrap
(``--variant=extract``: python3 and the C++ runtime unpacked, no maintainer scripts, so
no binfmt_misc registration is needed), installs PyPI's aarch64 wheels of numpy,
onnxruntime and pyserial beside it with the host's pip (``--platform``), then runs the
bundle under ``qemu-aarch64-static -L ROOT`` and the same exchange as the tests against
it from this x86 host over TCP loopback: load, infer (outputs within 1e-4 of the host's
onnxruntime), heartbeat, clock sync, profile, a slow fault, SIGTERM. Prints each step's
time. Needs the Debian packages ``qemu-user-static`` and ``mmdebstrap`` and root (for
the extraction's file ownership).

The one trap found on the way: onnxruntime reads the CPU's description at import and,
under qemu-user, gets the host's x86 ``/proc/cpuinfo``, finds no ARM core in it and
crashes (SIGSEGV). qemu looks a path up inside ``-L ROOT`` first, so the root gets a
``/proc/cpuinfo`` describing two Cortex-A72 cores (a Raspberry Pi 4's).

    .venv/bin/python bench/arm_agent.py [--fresh]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hil.check import exchange  # noqa: E402
from hil.client import AgentClient  # noqa: E402
from models import zoo  # noqa: E402

WORK = ROOT / ".cache" / "arm64"
ROOTFS, SITE = WORK / "rootfs", WORK / "site"
PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux2014_aarch64",
             "manylinux_2_17_aarch64", "linux_aarch64")  # fmt: skip
CORE = ("processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
        "CPU revision\t: 3\n\n")  # fmt: skip


def step(name: str, times: dict[str, float], command: list[str]) -> None:
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    times[name] = time.monotonic() - start
    if done.returncode:
        sys.exit(f"{name} failed ({' '.join(command[:3])} …):\n{done.stderr.strip()[-2000:]}")


def prepare(times: dict[str, float], fresh: bool) -> None:
    missing = [tool for tool in ("qemu-aarch64-static", "mmdebstrap") if not shutil.which(tool)]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: apt-get install qemu-user-static mmdebstrap")
    if fresh:
        shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True, exist_ok=True)
    if not (ROOTFS / "usr/bin/python3").exists():
        shutil.rmtree(ROOTFS, ignore_errors=True)
        step("arm64 root (mmdebstrap)", times, ["mmdebstrap", "--arch=arm64", "--variant=extract",
             "--include=python3,libstdc++6,libgcc-s1", "--mode=root", "--quiet", "bookworm",
             str(ROOTFS), "http://deb.debian.org/debian"])  # fmt: skip
        (ROOTFS / "proc").mkdir(exist_ok=True)
        (ROOTFS / "proc/cpuinfo").write_text("".join(CORE.format(n=n) for n in range(2)))
    if not (SITE / "onnxruntime").is_dir():
        shutil.rmtree(SITE, ignore_errors=True)
        platforms = [f"--platform={p}" for p in PLATFORMS]
        step("aarch64 wheels (pip)", times, [sys.executable, "-m", "pip", "install", "--quiet",
             "--target", str(SITE), "--only-binary=:all:", "--implementation=cp",
             "--python-version=3.11", "--abi=cp311", *platforms, "numpy", "onnxruntime",
             "pyserial"])  # fmt: skip
    step("bundle", times, [str(Path(sys.executable).with_name("edgesim")), "hil", "bundle",
         "--out", str(WORK / "edgesim-agent.pyz")])  # fmt: skip


def run_agent(times: dict[str, float]) -> int:
    """The exchange against the emulated agent; 0 when it passed."""
    command = ["qemu-aarch64-static", "-L", str(ROOTFS), str(ROOTFS / "usr/bin/python3"),
               str(WORK / "edgesim-agent.pyz"), "--listen", "127.0.0.1:0", "--allow-faults",
               "--cache", str(WORK / "agent-cache")]  # fmt: skip
    start = time.monotonic()
    env = {"PYTHONPATH": str(SITE), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    times["agent start (emulated)"] = time.monotonic() - start
    if not line.startswith("listening on "):
        proc.kill()
        sys.exit(f"the emulated agent did not start: {line!r}")
    try:
        start = time.monotonic()
        agent = AgentClient.connect(f"tcp://127.0.0.1:{line.rsplit(':', 1)[1]}", timeout=120)
        x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
        result = exchange(agent, zoo.load("resnet56"), {"input": x})
        agent.close()
        times["exchange (resnet56)"] = time.monotonic() - start
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
    device = result.device
    print(f"device: {device['machine']}, Python {device['python']}, onnxruntime "
          f"{device['onnxruntime']}, agent {device['agent']}, missing APIs {device['missing']}")  # fmt: skip
    print(f"resnet56: outputs within {result.error:.2g} of the host's; {result.compute * 1e3:.1f} ms "
          f"compute, {result.profile_seconds * 1e3:.1f} ms profiled end to end")  # fmt: skip
    problems = result.problems(1e-4, same_clock=True) + result.notes
    if status != 0:
        problems.append(f"SIGTERM: exit status {status}, not 0")
    for name, seconds in times.items():
        print(f"{name:<28} {seconds:7.1f} s")
    for problem in problems:
        print(f"FAILED: {problem}")
    print("ARM64 agent: " + ("FAILED" if problems else "passed"))
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="rebuild the root and the wheels")
    args = parser.parse_args()
    times: dict[str, float] = {}
    prepare(times, args.fresh)
    return run_agent(times)


if __name__ == "__main__":
    sys.exit(main())
