"""Hardware-in-the-loop plumbing with the real agent in a separate process.

Over TCP loopback and over a pty whose device side the agent opens with pyserial.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.client import AgentClient, HilRefused, HilTimeout, HilTransportError
from hil.protocol import HEADER, PREFIX, Codec, Kind, Message, Reassembler
from hil.transport import FdTransport
from models import zoo

AGENT = [sys.executable, "-m", "hil.agent"]


def start_agent(tmp: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*AGENT, "--cache", str(tmp / "cache"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    return proc, line


@pytest.fixture
def tcp_agent(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, line = start_agent(tmp_path, "--listen", "127.0.0.1:0", "--allow-faults")
    assert line.startswith("listening on 127.0.0.1:"), line
    yield proc, f"tcp://127.0.0.1:{line.rsplit(':', 1)[1]}"
    proc.kill()
    proc.wait()


def resnet56() -> tuple[bytes, np.ndarray, np.ndarray]:
    model = zoo.load("resnet56").SerializeToString()
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    return model, x, ref


def exercise(agent: AgentClient) -> None:
    """Load, infer (equal to a local run), heartbeat, clock offset, profile."""
    model, x, ref = resnet56()
    model_id = agent.load(model, "r56")
    outputs, stamps = agent.infer(model_id, {"input": x})
    assert np.abs(outputs["fc"] - ref).max() <= 1e-5
    assert 0 < stamps.compute < stamps.round_trip
    assert "r56" in agent.heartbeat()["models"]
    offset, uncertainty = agent.sync_clock()
    assert abs(offset) <= uncertainty + 2e-3, "same machine, same monotonic clock"
    profile = agent.profile(model_id, zoo.load("resnet56"), runs=3)
    assert profile["layers"]["stem"]["median"] > 0 and profile["end_to_end"]["median"] > 0


@pytest.mark.hil
def test_tcp_load_infer_heartbeat_clock_profile(
    tcp_agent: tuple[subprocess.Popen[str], str],
) -> None:
    """Everything over TCP loopback."""
    agent = AgentClient.connect(tcp_agent[1])
    exercise(agent)
    agent.close()


@pytest.mark.hil
def test_pty_load_infer_heartbeat_clock_profile(tmp_path: Path) -> None:
    """The agent opens the pty's device side with pyserial; the host writes to the master."""
    master, slave = os.openpty()
    proc, line = start_agent(tmp_path, "--serial", os.ttyname(slave))
    try:
        assert line.startswith("serving serial://"), line
        agent = AgentClient(FdTransport(master, "pty"), timeout=30)
        exercise(agent)
    finally:
        proc.kill()
        proc.wait()
        os.close(slave)


@pytest.mark.hil
def test_retried_request_runs_once(tcp_agent: tuple[subprocess.Popen[str], str]) -> None:
    """The same req_id is answered from the agent's cache: identical device timestamps;
    the same id from another session runs anew."""
    agent = AgentClient.connect(tcp_agent[1])
    model, x, _ = resnet56()
    model_id = agent.load(model)
    first = agent.request(
        Message(Kind.INFER, {"model_id": model_id, "req_id": 7}, tensors={"input": x})
    )
    again = agent.request(
        Message(Kind.INFER, {"model_id": model_id, "req_id": 7}, tensors={"input": x})
    )
    assert first.fields["t_start"] == again.fields["t_start"]
    agent.close()
    other = AgentClient.connect(tcp_agent[1])  # a new session's id 7 is its own request
    fresh = other.request(
        Message(Kind.INFER, {"model_id": model_id, "req_id": 7}, tensors={"input": x})
    )
    assert fresh.fields["t_start"] > first.fields["t_start"]
    other.close()


@pytest.mark.hil
def test_garbage_on_tcp_resets_the_connection_not_the_agent(
    tcp_agent: tuple[subprocess.Popen[str], str],
) -> None:
    """TCP frames are length-prefixed: garbage gets an error and a closed connection; the
    agent keeps serving, and a new connection works."""
    agent = AgentClient.connect(tcp_agent[1], timeout=3)
    rng = np.random.default_rng(3)
    agent.transport.write(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises((HilRefused, HilTransportError, HilTimeout)):
        agent.heartbeat()
    again = AgentClient.connect(tcp_agent[1])
    assert again.heartbeat()["uptime"] > 0
    again.close()


@pytest.mark.hil
def test_garbage_on_a_serial_line_resynchronises(tmp_path: Path) -> None:
    """COBS frames on a pty: random bytes and a bad frame, then the agent answers the next request."""
    master, slave = os.openpty()
    proc, _ = start_agent(tmp_path, "--serial", os.ttyname(slave))
    try:
        agent = AgentClient(FdTransport(master, "pty"), timeout=10)
        rng = np.random.default_rng(3)
        agent.transport.write(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes() + b"\x00")
        agent.transport.write(b"\x05\x01\x02\x03\x00")
        assert agent.heartbeat()["uptime"] > 0
    finally:
        proc.kill()
        proc.wait()
        os.close(slave)


@pytest.mark.hil
def test_agent_killed_mid_inference_fails_the_request_without_hanging(
    tcp_agent: tuple[subprocess.Popen[str], str],
) -> None:
    """The agent dies during a slowed inference: the request fails within its timeout."""
    agent = AgentClient.connect(tcp_agent[1], timeout=3)
    model, x, _ = resnet56()
    model_id = agent.load(model)
    agent.fault("slow", 1.0)
    time.sleep(0.2)
    start = time.monotonic()
    threading.Timer(0.3, tcp_agent[0].kill).start()
    with pytest.raises((HilTransportError, HilTimeout)):
        agent.infer(model_id, {"input": x})
    assert time.monotonic() - start < 4


@pytest.mark.hil
def test_token_required_beyond_loopback_and_wrong_token_rejected(tmp_path: Path) -> None:
    """No token beyond loopback is refused at start; a wrong token gets one clear error."""
    done = subprocess.run(
        [*AGENT, "--listen", "0.0.0.0:0"], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2 and "requires a token" in done.stderr
    proc, line = start_agent(tmp_path, "--listen", "127.0.0.1:0", "--token", "s3cret")
    url = f"tcp://127.0.0.1:{line.rsplit(':', 1)[1]}"
    try:
        with pytest.raises(HilRefused, match="wrong or missing token"):
            AgentClient.connect(url, token="guess")
        good = AgentClient.connect(url, token="s3cret")
        assert good.codec.key is not None and good.heartbeat()["uptime"] > 0
        good.close()
    finally:
        proc.kill()
        proc.wait()


def test_agent_imports_only_what_a_device_has() -> None:
    """Importing the agent pulls in no simpy, scipy or pydantic."""
    code = "import sys, hil.agent; print(sorted({'simpy', 'scipy', 'pydantic'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@settings(max_examples=80, deadline=None)
@given(
    st.binary(max_size=3000),
    st.lists(st.integers(1, 700), min_size=1, max_size=20),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_framing_round_trips_under_any_chunking(
    payload: bytes, cuts: list[int], keyed: bool, stream: bool, digest: bool
) -> None:
    """Messages survive any split of the byte stream, fragmentation and authentication,
    in both framings, with and without the data digest."""
    key = b"k" * 32 if keyed else None
    sender = Codec(key=key, max_frame=512, stream=stream, digest=digest)
    receiver = Codec(key=key, stream=stream)
    msg = Message(Kind.INFER, {"req_id": 5}, tensors={"x": np.frombuffer(payload[: len(payload) // 4 * 4], np.float32)},
                  blobs={"raw": payload}, seq=9)  # fmt: skip
    wire = b"".join(sender.frames(msg))
    reader = Reassembler(receiver)
    got: list[Message] = []
    at = 0
    for n in cuts * (len(wire) // max(sum(cuts), 1) + 1):
        got += reader.feed(wire[at : at + n])
        at += n
        if at >= len(wire):
            break
    got += reader.feed(wire[at:])
    assert len(got) == 1 and not reader.errors
    assert got[0].blobs["raw"] == payload and got[0].seq == 9
    np.testing.assert_array_equal(got[0].tensors["x"], msg.tensors["x"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=10), st.integers(0, 3))
def test_garbage_never_breaks_the_reader(chunks: list[bytes], position: int) -> None:
    """Random bytes, truncated and corrupted frames: errors are reported, good frames still arrive."""
    codec = Codec()
    good = b"".join(codec.frames(Message(Kind.HEARTBEAT, seq=1)))
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2] ^= 0xFF
    pieces = [*chunks, bytes(corrupt), good[: len(good) // 2] + b"\x00"]
    pieces.insert(min(position, len(pieces)), b"\x00" + good)
    reader = Reassembler(Codec())
    got = [m for piece in pieces for m in reader.feed(piece)]
    assert any(m.kind == Kind.HEARTBEAT for m in got)


@pytest.mark.hil
def test_calibrate_writes_a_profile_a_scenario_can_use(
    tcp_agent: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    """`edgesim hil calibrate` profiles on the agent; the file drives a device in a scenario."""
    out = tmp_path / "dev.json"
    done = subprocess.run([sys.executable, "-m", "sim", "hil", "calibrate", "--device", tcp_agent[1],
                           "--model", "resnet56", "--runs", "3", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    from tests.helpers import load_dict
    from tests.test_model_scenarios import split

    raw = split("resnet56")
    raw["devices"]["cam"] = {"profile": str(out)}
    assert load_dict(raw).devices["cam"].measured(["stem"]) is not None


ROOT = Path(__file__).resolve().parent.parent


def edgesim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT)  # fmt: skip


def url_of(line: str) -> str:
    return f"tcp://127.0.0.1:{line.rsplit(':', 1)[1]}"


def accounted(out: Path, arrivals: int) -> list[dict[str, object]]:
    """requests.parquet of a measured run: every arrival (counted from the periodic
    workload, not from the records) ends exactly once, as a finished request or one in
    flight."""
    import pyarrow.parquet as pq

    rows = pq.read_table(out / "requests.parquet").to_pylist()
    summary = json.loads((out / "summary.json").read_text())
    in_flight = summary["requests"]["in_flight"]["mean"]
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids), "no request ends twice"
    assert len(rows) + in_flight == arrivals
    return rows


@pytest.mark.hil
@pytest.mark.slow
@pytest.mark.hil
def test_validate_writes_its_files_and_rows_and_reuses_a_profile(
    tcp_agent: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    """`edgesim hil validate` on the loopback scenario: validation.json with every row,
    the measured run's files (requests.csv marking the real stage), the prediction's,
    the device profile; predicted percentiles spread as the calibration calls did (p95
    above p50 for a periodic workload). A second run with `--profile` reuses the profile
    instead of profiling again. No accuracy threshold: that is bench/hil_validate.py's."""
    first, second = tmp_path / "first", tmp_path / "second"
    done = edgesim("hil", "validate", "scenarios/hil/loopback.yaml", "--bind", f"srv={tcp_agent[1]}",
                   "--horizon", "4s", "--out", str(first))  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    report = json.loads((first / "validation.json").read_text())
    rows = {r["metric"]: r for r in report["rows"]}
    assert set(rows) == {"latency mean", "latency p50", "latency p95", "throughput",
                         "stage 0 service (cam, simulated)", "stage 1 service (srv, real)",
                         "transfer to and from srv"}  # fmt: skip
    assert rows["stage 1 service (srv, real)"]["noisy"] and not rows["latency mean"]["noisy"]
    assert rows["latency p95"]["predicted"] > rows["latency p50"]["predicted"]
    assert len(report["service"]["split.1"]["compute"]) == 30
    assert report["profiles"]["srv"]["reused"] is False and (first / "profile-srv.json").exists()
    requests = accounted(first, arrivals=40)  # 10/s for 4 s
    assert {r["real_stages"] for r in requests} == {"1"}
    assert (first / "predicted" / "requests.parquet").exists()
    done = edgesim("hil", "validate", "scenarios/hil/loopback.yaml", "--bind", f"srv={tcp_agent[1]}",
                   "--horizon", "3s", "--out", str(second), "--profile", str(first / "profile-srv.json"))  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    again = json.loads((second / "validation.json").read_text())
    assert again["profiles"]["srv"] == {"path": str(first / "profile-srv.json"), "reused": True}
    assert not (second / "profile-srv.json").exists()
    accounted(second, arrivals=30)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("gpu=x.json", "--profile: device 'gpu' is not bound (bound: srv)"),
        ("srv=missing.json", "--profile srv=missing.json: no such file"),
        ("pyproject.toml", "cannot read profile"),
    ],
)
def test_validate_rejects_a_bad_profile_before_connecting(option: str, message: str) -> None:
    """A profile that is not bound, missing or unreadable: exit 2 naming it, no agent needed."""
    done = edgesim("hil", "validate", "scenarios/hil/loopback.yaml", "--bind", "srv=tcp://127.0.0.1:1",
                   "--profile", option)  # fmt: skip
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_hil_run_rejects_unknown_bindings(tmp_path: Path) -> None:
    done = edgesim("hil", "run", "scenarios/hil/loopback.yaml", "--bind", "gpu=tcp://127.0.0.1:1")
    assert done.returncode == 2 and "--bind: unknown device 'gpu' (known: cam, srv)" in done.stderr


@pytest.mark.hil
@pytest.mark.slow
@pytest.mark.hil
def test_validate_a_real_crash_then_the_respawned_agent_validates_again(tmp_path: Path) -> None:
    """The agent under `--respawn` really exits at 4 s: validate reports the detection and
    the recovery (both after the crash, before the horizon), every arrival is accounted
    for; the supervisor starts the agent again (a new nonce on the same port), and a
    second validate against it works without anyone restarting it."""
    proc, line = start_agent(tmp_path, "--listen", "127.0.0.1:0", "--allow-faults", "--respawn")
    url = url_of(line)
    try:
        done = edgesim("hil", "validate", "scenarios/hil/loopback_crash.yaml", "--bind", f"srv={url}",
                       "--horizon", "7s", "--out", str(tmp_path / "crash"))  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
        report = json.loads((tmp_path / "crash" / "validation.json").read_text())
        rows = {r["metric"]: r for r in report["rows"]}
        assert 0 < rows["detection delay (srv)"]["measured"] < 3.0
        assert 0 < rows["recovery time"]["measured"] < 3.0
        accounted(tmp_path / "crash", arrivals=70)
        assert "down" in (tmp_path / "crash" / "timeline.csv").read_text()
        agent = AgentClient.connect(url)
        assert agent.heartbeat()["uptime"] < 7, "a new agent process"
        agent.close()
        done = edgesim("hil", "validate", "scenarios/hil/loopback.yaml", "--bind", f"srv={url}",
                       "--horizon", "3s", "--out", str(tmp_path / "again"),
                       "--profile", str(tmp_path / "crash" / "profile-srv.json"))  # fmt: skip
        assert done.returncode in (0, 1), done.stderr
        accounted(tmp_path / "again", arrivals=30)
        assert proc.poll() is None, "the supervisor is still running"
    finally:
        proc.terminate()
        proc.wait()


@pytest.mark.hil
@pytest.mark.slow
@pytest.mark.hil
def test_bridge_reconnects_to_a_respawned_agent(tmp_path: Path) -> None:
    """The agent (under `--respawn`) crashes at 4 s and its supervisor starts it again on
    the same port: the bridge notices the restart (new nonce), loads the partition again,
    and the stage switches back to it."""
    from hil.bridge import Bridge
    from sim import load

    proc, line = start_agent(tmp_path, "--listen", "127.0.0.1:0", "--allow-faults", "--respawn")
    scenario = load(ROOT / "scenarios/hil/loopback_crash.yaml")
    bridge = Bridge(scenario.model_copy(update={"horizon": 10.0}), {"srv": url_of(line)})
    try:
        rep = bridge.run()
        real_calls = len(bridge.stages[("split", 1)].stamps)
        states = [d.state for d in rep.faults.declarations if d.device == "srv"]  # type: ignore[union-attr]
        assert bridge.reconnects == [("srv", True)]
        assert states == ["down", "up"]
        assert real_calls > 45, "requests went back to the restarted agent"
        assert (rep.sources[0].status <= 1).all(), "the backup and re-sends lost nothing"
    finally:
        bridge.close()
        proc.terminate()
        proc.wait()


def _fragments(codec: Codec, payload: bytes, req: int) -> list[bytes]:
    msg = Message(Kind.INFER, {"req_id": req}, blobs={"raw": payload}, seq=req)
    return codec.frames(msg)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(min_size=1, max_size=1500),
            st.sampled_from(["ok", "flip", "dup", "swap"]),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 4096),
)
def test_stream_reader_survives_corrupt_duplicated_and_reordered_frames(
    plan: list[tuple[bytes, str, int]], chunk: int
) -> None:
    """On a TCP stream a frame with a flipped bit, a fragment sent twice or two fragments
    swapped cost only their own message (reported as an error); every intact message
    arrives, and nothing arrives that was not sent whole."""
    sender = Codec(stream=True, max_frame=256, digest=True)
    wire, intact, sent = [], [], set()
    for req, (payload, action, where) in enumerate(plan, 1):
        frames = _fragments(sender, payload, req)
        sent.add(payload)
        if action == "flip":  # any byte after the length prefix and header
            k = where % len(frames)
            frame = bytearray(frames[k])
            frame[4 + 28 + where % (len(frame) - 32)] ^= 0x40
            frames[k] = bytes(frame)
        elif action == "dup" and len(frames) > 2:  # a middle fragment twice
            frames.insert(1, frames[1])
        elif action == "swap" and len(frames) > 1:
            frames[0], frames[1] = frames[1], frames[0]
        else:
            intact.append(payload)
        wire += frames
    data = b"".join(wire)
    reader = Reassembler(Codec(stream=True))
    got = [m for at in range(0, len(data), chunk) for m in reader.feed(data[at : at + chunk])]
    payloads = [m.blobs["raw"] for m in got]
    assert all(p in sent for p in payloads)
    assert [p for p in payloads if p in intact] == intact
    assert len(got) == len(intact) and len(reader.errors) >= len(plan) - len(intact)


def test_without_the_data_digest_the_header_and_json_are_still_checked() -> None:
    """Data digest off (TCP's default): a flipped bit in the JSON is caught, one in the raw
    tensor bytes is left to TCP's own checksum; with the digest on both are caught."""
    x = np.arange(64, dtype=np.float32)
    for digest, data_caught in ((False, False), (True, True)):
        (frame,) = Codec(stream=True, digest=digest).frames(
            Message(Kind.INFER, {"req_id": 1}, tensors={"x": x})
        )
        for offset, caught in ((4 + 28 + 10, True), (len(frame) - 4 - 8, data_caught)):
            bad = bytearray(frame)
            bad[offset] ^= 1
            reader = Reassembler(Codec(stream=True))
            got = reader.feed(bytes(bad))
            assert (not got and reader.errors == ["bad CRC"]) if caught else len(got) == 1


def _reference(stream: bool) -> tuple[Message, bytes]:
    """A message whose every byte matters (fields, a blob) and its one frame."""
    msg = Message(
        Kind.INFER, {"req_id": 9, "model_id": "m"}, blobs={"raw": bytes(range(64))}, seq=3
    )
    (frame,) = Codec(stream=stream, digest=True).frames(msg)
    return msg, frame


@st.composite
def _garbage(draw: st.DrawFn, stream: bool) -> tuple[bytes, bool]:
    """(bytes, whether a stream stays in step): random bytes, or a real frame with 1-4
    bytes changed (the length prefix and header intact: the stream stays in step)."""
    if draw(st.booleans()):
        return draw(st.binary(min_size=1, max_size=600)), False
    frame = bytearray(_reference(stream)[1])
    spots = draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=4, unique=True))
    for at in spots:
        frame[at] ^= draw(st.integers(1, 255))
    return bytes(frame), stream and min(spots) >= PREFIX.size + HEADER.size


@settings(max_examples=120, deadline=None)
@given(st.data(), st.booleans())
def test_stream_garbage_is_reported_never_raised_or_delivered(
    data: st.DataObject, stream: bool
) -> None:
    """Garbage where a frame should be (random bytes, or a frame with bytes changed),
    then a valid frame: the garbage is reported as errors, never raised and never
    delivered as a message. On a serial line (COBS) the valid frame after it arrives
    intact; on a TCP stream it does when the damage left the stream in step (a bad CRC:
    the frame is read whole and dropped), and otherwise the stream is out of step and
    the agent answers with an ERROR and closes the connection (tested above)."""
    garbage, in_step = data.draw(_garbage(stream))
    sent, frame = _reference(stream)
    reader = Reassembler(Codec(stream=stream))
    got = reader.feed(garbage + (b"" if stream else b"\x00") + frame)
    for m in got:  # nothing but the valid message, byte for byte
        assert (m.kind, m.seq, m.fields, m.blobs) == (sent.kind, sent.seq, sent.fields, sent.blobs)
    if stream:
        assert reader.errors, "the garbage is reported"
        assert len(got) == 1 if in_step else len(got) <= 1
    else:  # every non-empty piece between delimiters is one reported frame error
        assert len(reader.errors) == sum(1 for piece in garbage.split(b"\x00") if piece)
        assert len(got) == 1, "the frame after the garbage arrives"


@pytest.mark.hil
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["hang", "drop", "slow"])
@pytest.mark.hil
def test_bridge_injects_hang_drop_and_slow_into_the_real_agent(tmp_path: Path, mode: str) -> None:
    """A 1.5 s hang or drop of the real server is declared down and up again by real
    heartbeats, the backup serves meanwhile, and the agent keeps its partitions (a drop
    reconnects without a restart); a slow fault adds its delay to the requests it spans.
    Timing accuracy is bench/hil_validate.py's, not asserted here."""
    from hil.bridge import Bridge
    from sim import load
    from sim.spec import InjectionSpec

    proc, line = start_agent(tmp_path, "--listen", "127.0.0.1:0", "--allow-faults")
    url = f"tcp://127.0.0.1:{line.rsplit(':', 1)[1]}"
    fault = InjectionSpec(at=3.0, target="srv", mode=mode, duration=1.5,  # type: ignore[arg-type]
                          delay=0.05 if mode == "slow" else None)  # fmt: skip
    scenario = load(Path(__file__).resolve().parent.parent / "scenarios/hil/loopback_crash.yaml")
    bridge = Bridge(
        scenario.model_copy(update={"horizon": 7.0, "failures": (fault,)}), {"srv": url}
    )
    try:
        rep = bridge.run()
        src = rep.sources[0]
        states = [d.state for d in rep.faults.declarations if d.device == "srv"]  # type: ignore[union-attr]
        assert (src.status <= 1).all(), "the backup and re-sends lost nothing"
        if mode == "slow":
            assert states == []
            inside = (src.arrival >= 3.05) & (src.arrival < 4.4)
            before = (src.arrival >= 1.0) & (src.arrival < 3.0)
            rise = src.latency[inside].mean() - src.latency[before].mean()
            assert rise > 0.025, "the delay shows in the latency (its size: bench/)"
        else:
            assert states == ["down", "up"]
            down = next(d for d in rep.faults.declarations if d.state == "down")  # type: ignore[union-attr]
            assert 3.0 < down.time < 4.5, "declared down during the outage"
            assert bridge.reconnects == ([("srv", False)] if mode == "drop" else [])
        assert proc.poll() is None, "the agent is still running"
    finally:
        bridge.close()
        proc.kill()
        proc.wait()
