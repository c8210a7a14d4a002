"""The bridge's per-request overhead: an inference through the agent against in-process.

Starts the real agent on TCP loopback, loads a model, and measures three ways:

1. in process: N calls of onnxruntime in this process, same model and settings;
2. client: N inferences through the protocol (``AgentClient.infer``); overhead = host
   round trip − the agent's own compute time (framing, copies, loopback transfer);
3. bridge: a real-time scenario with the whole model as one stage on the bound device;
   overhead = the stage's time in the simulation (the real call, as the request
   experienced it) − the agent's compute for that call. Twice: back to back (a request
   every 0.95 round trips: the device always has the next one waiting) and spaced
   (every 3 compute times, the agent idle in between).

Target: under 1 ms plus the bytes' transfer time on loopback (raw TCP, same sizes, same
spacing: after an idle gap both processes wake up slower on this machine, raw sockets
included, so each measurement is held against the raw transfer with its own spacing).
``--digest`` adds the data digest (CRC-32 over the tensors) to every frame.

    python bench/hil_overhead.py [--model resnet56] [--runs 200] [--digest]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from hil.client import AgentClient
from models import zoo
from models.measure import feeds


def loopback_transfer(sent: int, received: int, runs: int, gap: float = 0.0) -> float:
    """Median seconds to move ``sent`` bytes over TCP loopback and ``received`` back,
    ``gap`` seconds apart (after an idle gap both processes wake up slower here)."""
    server = socket.create_server(("127.0.0.1", 0))
    payload_out = b"y" * received
    payload_in = b"x" * sent

    def echo() -> None:
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(runs):
            got = 0
            while got < sent:
                got += len(conn.recv(1 << 20))
            conn.sendall(payload_out)
        conn.close()

    threading.Thread(target=echo, daemon=True).start()
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(runs):
        time.sleep(gap)
        start = time.perf_counter()
        client.sendall(payload_in)
        got = 0
        while got < received:
            got += len(client.recv(1 << 20))
        times.append(time.perf_counter() - start)
    client.close()
    server.close()
    return float(np.median(times))


RAW_SERVER = r"""
import socket, sys, time
import numpy as np, onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
spec = session.get_inputs()[0]
shape = [d if isinstance(d, int) else 1 for d in spec.shape]
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
conn, _ = server.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
x = np.empty(shape, np.float32)
view = memoryview(x).cast("B")
while True:
    got = 0
    while got < len(view):
        n = conn.recv_into(view[got:])
        if not n:
            sys.exit(0)
        got += n
    start = time.perf_counter()
    (y,) = session.run(None, {spec.name: x})[:1]
    compute = time.perf_counter() - start
    conn.sendall(np.float64(compute).tobytes() + np.ascontiguousarray(y).tobytes())
"""


def raw_floor(path: Path, x: np.ndarray, out_bytes: int, runs: int, gap: float) -> float:
    """The least a remote inference can cost here: a bare TCP server running the same
    session (no framing, no checks, no JSON), round trip − its compute, median."""
    proc = subprocess.Popen([sys.executable, "-c", RAW_SERVER, str(path)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    client = socket.create_connection(("127.0.0.1", int(proc.stdout.readline())))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload, back = np.ascontiguousarray(x).tobytes(), bytearray(8 + out_bytes)
    gaps = []
    for i in range(runs + 10):
        time.sleep(gap)
        start = time.perf_counter()
        client.sendall(payload)
        got = 0
        while got < len(back):
            got += client.recv_into(memoryview(back)[got:])
        trip = time.perf_counter() - start
        if i >= 10:
            gaps.append(trip - float(np.frombuffer(back[:8], np.float64)[0]))
    client.close()
    proc.wait(timeout=30)
    return float(np.median(gaps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet56")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--digest", action="store_true", help="CRC-32 over the tensor bytes too")
    args = parser.parse_args()
    model = zoo.load(args.model).SerializeToString()
    path = Path(tempfile.mkdtemp()) / "model.onnx"
    path.write_bytes(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    local = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    x = feeds(local)
    for _ in range(10):
        local.run(None, x)
    in_process = []
    for _ in range(args.runs):
        start = time.perf_counter()
        local.run(None, x)
        in_process.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as cache:
        agent_proc = subprocess.Popen([sys.executable, "-m", "hil.agent", "--listen", "127.0.0.1:0", "--cache", cache],
                                      stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert agent_proc.stdout is not None
        port = agent_proc.stdout.readline().strip().rsplit(":", 1)[1]
        url = f"tcp://127.0.0.1:{port}" + ("?digest=1" if args.digest else "")
        try:
            agent = AgentClient.connect(url)
            model_id = agent.load(model)
            for _ in range(10):
                agent.infer(model_id, x)
            trips, computes = [], []
            for _ in range(args.runs):
                outputs, stamps = agent.infer(model_id, x)
                trips.append(stamps.round_trip)
                computes.append(stamps.compute)
            agent.close()
            periods = (0.95 * float(np.median(trips)), max(0.02, 3 * float(np.median(computes))))
            bridged = [through_bridge(args.model, url, p, args.runs, Path(cache)) for p in periods]
        finally:
            agent_proc.kill()
    sent = sum(a.nbytes for a in x.values())
    received = sum(a.nbytes for a in outputs.values())
    overhead = np.median(np.asarray(trips) - np.asarray(computes))
    print(f"model {args.model}: {sent:,} B in, {received:,} B out, {args.runs} runs, 1 thread")
    print(f"in process           median {np.median(in_process) * 1e3:.3f} ms")
    print(
        f"through the agent    median {np.median(trips) * 1e3:.3f} ms (device compute {np.median(computes) * 1e3:.3f} ms)"
    )
    transfer = loopback_transfer(sent, received, args.runs)
    print(f"data digest          {'on' if args.digest else 'off'}")
    print(f"bytes on loopback    median {transfer * 1e3:.3f} ms back to back (raw TCP, same sizes)")
    report("client, back to back", overhead, 1e-3 + transfer)
    for period, value in zip(periods, bridged, strict=True):
        idle = max(0.0, period - float(np.median(trips)))
        raw = loopback_transfer(sent, received, args.runs, idle)
        floor = raw_floor(path, x[next(iter(x))], received, args.runs, idle)
        print(f"bytes on loopback    median {raw * 1e3:.3f} ms {idle * 1e3:.1f} ms apart; "
              f"a bare TCP server running the model: {floor * 1e3:.3f} ms beyond its compute")  # fmt: skip
        report(f"bridge, every {period * 1e3:.1f} ms", value, 1e-3 + raw)


def report(name: str, value: float, target: float) -> None:
    verdict = "met" if value <= target else "missed"
    print(
        f"  overhead, {name:<22} median {value * 1e3:.3f} ms per request: "
        f"target < {target * 1e3:.3f} ms, {verdict}"
    )


def through_bridge(model: str, url: str, period: float, runs: int, tmp: Path) -> float:
    """Median of (stage time in the real-time simulation − device compute) per request."""
    from hil.bridge import Bridge
    from sim import load

    scenario = tmp / "bench.yaml"
    rate = 1 / period
    scenario.write_text(
        "name: bench\n"
        "seed: 1\n"
        f"horizon: {runs * period + 1.0:.3f}s\n"
        "warmup: 0.5s\n"
        f"model: {model}\n"
        "devices: {cam: {type: rpi4}, srv: {type: edge-cpu}}\n"
        "links: [{ends: [cam, srv], bandwidth: 1Gbps, latency: 0.5ms}]\n"
        "pipelines: {whole: {stages: [{layers: [input, output], on: srv}]}}\n"
        "workload: [{name: cam, at: cam, pipeline: whole, "
        f"arrivals: {{kind: periodic, rate: {rate:.3f}/s}}}}]\n",
        encoding="utf-8",
    )
    bridge = Bridge(load(scenario), {"srv": url})
    try:
        bridge.warm_up(10)
        bound = bridge.stages[("whole", 0)]
        bound.stamps.clear()
        rep = bridge.run()
    finally:
        bridge.close()
    src = rep.sources[0]
    service = src.phases()["service0"]
    compute = np.array([s.compute for s in bound.stamps])
    assert len(service) == len(compute), "one real call per request"
    return float(np.median(service - compute))


if __name__ == "__main__":
    main()
