"""The one-file agent (``edgesim hil bundle``) under the oldest interpreter, its systemd
unit's command line, SIGTERM, and the device information that calibration depends on."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hil.client import AgentClient, HilRefused, HilTransportError
from hil.device_info import board, governor, parse_nvpmodel
from hil.protocol import Kind, Message
from hil.validate import mismatches
from tests.test_agent_pythons import oldest, run_exchange, start, stop

EDGESIM = [str(Path(sys.executable).with_name("edgesim"))]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "edgesim-agent.pyz"
    subprocess.run([*EDGESIM, "hil", "bundle", "--out", str(out)], check=True, timeout=60,
                   capture_output=True)  # fmt: skip
    return out


@pytest.mark.hil
def test_bundle_runs_under_the_oldest_interpreter(bundle: Path, tmp_path: Path) -> None:
    """The bundle alone (no source tree) under the oldest Python: --version names the
    agent's and the protocol's versions; a full exchange with the token from a file."""
    python = oldest()
    version = subprocess.run([str(python), str(bundle), "--version"], cwd=tmp_path,
                             capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    assert version.stdout.startswith("edgesim-agent ") and "(protocol 1)" in version.stdout
    (tmp_path / "token").write_text("s3cret\n")
    proc, url = start([str(python), str(bundle), "--listen", "127.0.0.1:0", "--allow-faults",
                       "--token-file", "token", "--cache", "cache"], tmp_path)  # fmt: skip
    try:
        device, problems = run_exchange(url, token="s3cret")
        with pytest.raises(HilRefused, match="wrong or missing token"):
            AgentClient.connect(url, token="guess")
    finally:
        status = stop(proc)
    assert problems == [] and status == 0
    assert device["agent"] == version.stdout.split()[1]


def unit_command(bundle: Path, cache: Path) -> tuple[list[str], dict[str, str]]:
    """The unit's ExecStart with this machine's paths, and its EnvironmentFile's name."""
    unit = subprocess.run([*EDGESIM, "hil", "bundle", "--systemd"], capture_output=True,
                          text=True, check=True, timeout=60).stdout  # fmt: skip
    keys = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and line[0] != "#")
    assert keys["Restart"] == "on-failure" and keys["KillSignal"] == "SIGTERM"
    command = shlex.split(keys["ExecStart"])
    assert "--token" not in command, "ps would show the token"
    command[0], command[1] = str(oldest()), str(bundle)
    command[command.index("--cache") + 1] = str(cache)
    command[command.index("--listen") + 1] = "127.0.0.1:0"
    return command, {"EnvironmentFile": keys["EnvironmentFile"]}


@pytest.mark.hil
def test_the_units_command_takes_its_token_from_the_environment_and_logs_for_journald(
    bundle: Path, tmp_path: Path
) -> None:
    """The unit's ExecStart, with the token as its EnvironmentFile gives it and journald's
    $JOURNAL_STREAM set: the token is required, log lines carry priorities, SIGTERM
    closes the host's connection and ends the agent with status 0."""
    command, _ = unit_command(bundle, tmp_path / "cache")
    env = {**os.environ, "EDGESIM_AGENT_TOKEN": "from-env", "JOURNAL_STREAM": "8:1234"}
    proc, url = start(command, tmp_path, env)
    agent = AgentClient.connect(url, token="from-env")
    try:
        assert agent.heartbeat()["uptime"] > 0
    finally:
        status = stop(proc)
    with pytest.raises(HilTransportError):
        agent.heartbeat()
    lines = (tmp_path / "stderr").read_text().splitlines()
    assert status == 0 and lines and all(line.startswith("<6>") for line in lines), lines
    assert lines[-1] == "<6>stopped: connections closed"


@pytest.mark.hil
def test_sigterm_during_a_model_upload_leaves_nothing_half_written(
    bundle: Path, tmp_path: Path
) -> None:
    """SIGTERM with 3 of a 10 MB model's 1 MB frames in: status 0 and an empty cache; a
    stale partial file from an earlier power loss is removed at start."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"{'0' * 64}.123.tmp").write_bytes(b"half a model")
    proc, url = start([str(oldest()), str(bundle), "--listen", "127.0.0.1:0", "--cache",
                       str(cache)], tmp_path)  # fmt: skip
    agent = AgentClient.connect(url)
    assert list(cache.iterdir()) == []
    model = os.urandom(10 << 20)
    fields = {"sha256": hashlib.sha256(model).hexdigest(), "model_id": "big"}
    upload = Message(Kind.LOAD_MODEL, fields, blobs={"model": model}, seq=99)
    frames = list(agent.codec.frame_parts(upload))
    assert len(frames) > 3
    for parts in frames[:3]:
        agent.transport.send(parts)
    time.sleep(0.2)  # the agent is reading the frames (or has them): the upload is not whole
    status = stop(proc)
    assert status == 0 and list(cache.iterdir()) == []


@pytest.mark.hil
def test_hello_and_profile_carry_the_power_mode(bundle: Path, tmp_path: Path) -> None:
    """With an ``nvpmodel`` on PATH (a script answering as JetPack's does) HELLO reports
    its mode, the profile records it, and validate's check names the difference from a
    profile measured in another mode."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "nvpmodel").write_text(
        "#!/bin/sh\necho 'NVPM WARN: fan mode is not set!'\necho 'NV Power Mode: MODE_15W_6CORE'\necho 2\n"
    )
    (tools / "nvpmodel").chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}
    proc, url = start([str(oldest()), str(bundle), "--listen", "127.0.0.1:0", "--cache", "c"],
                      tmp_path, env)  # fmt: skip
    try:
        device, problems = run_exchange(url)
        agent = AgentClient.connect(url)
        hello = agent.info
        agent.close()
    finally:
        stop(proc)
    assert device["power_mode"] == "MODE_15W_6CORE (2)"
    assert problems == ["faults not tried: the agent runs without --allow-faults"]
    profile = tmp_path / "jetson.json"
    profile.write_text(json.dumps({"device": {**device, "power_mode": "MODE_10W (1)"}}))
    (warning,) = mismatches("jetson", profile, hello)
    assert "power_mode is 'MODE_15W_6CORE (2)' on the device but 'MODE_10W (1)'" in warning
    profile.write_text(json.dumps({"device": device}))
    assert mismatches("jetson", profile, hello) == []


def test_board_and_governor_read_from_the_device_tree_and_cpufreq(tmp_path: Path) -> None:
    """The device tree's NUL-terminated model; governors of all CPUs, distinct ones
    joined; None where neither exists (this VM)."""
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    for cpu, name in enumerate(["schedutil", "schedutil", "performance"]):
        folder = tmp_path / f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
        folder.mkdir(parents=True)
        (folder / "scaling_governor").write_text(name + "\n")
    assert board(tmp_path) == "Raspberry Pi 4 Model B Rev 1.4"
    assert governor(tmp_path) == "performance,schedutil"
    assert board(tmp_path / "none") is None and governor(tmp_path / "none") is None
    assert parse_nvpmodel("NV Power Mode: MAXN\n0\n") == "MAXN (0)"
    assert parse_nvpmodel("nvpmodel: command failed") is None


def test_bundle_into_a_missing_folder_is_refused(tmp_path: Path) -> None:
    """Exit 2, one line naming --out, nothing written."""
    out = tmp_path / "no" / "edgesim-agent.pyz"
    done = subprocess.run([*EDGESIM, "hil", "bundle", "--out", str(out)], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and "--out" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not out.parent.exists()


def test_bundle_never_replaces_a_file_that_is_not_a_bundle(tmp_path: Path) -> None:
    """A folder, or a file that is not a bundle, at --out: exit 2, one line, nothing changed
    and nothing left beside it; a bundle is replaced, and --force replaces any file."""
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me\n", encoding="utf-8")

    def bundle(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*EDGESIM, "hil", "bundle", *args], capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip

    for out in (tmp_path, precious):
        done = bundle("--out", str(out))
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert precious.read_text(encoding="utf-8") == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    pyz = tmp_path / "a.pyz"
    assert bundle("--out", str(pyz)).returncode == 0
    assert bundle("--out", str(pyz)).returncode == 0  # its own bundle: replaced
    assert bundle("--out", str(precious), "--force").returncode == 0
    assert precious.read_bytes().startswith(b"#!/usr/bin/env python3\nPK")
