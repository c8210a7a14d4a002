"""The bridge's per-request overhead: an inference through the agent against in-process.

Starts the real agent on TCP loopback, loads a model, and times N inferences through
the protocol (host round trip) and N calls of onnxruntime in this process on the same
model with the same settings. Overhead = round trip − the agent's own compute time,
which includes framing, the copies and the loopback transfer of input and output.
Target: under 1 ms plus the bytes' transfer time on loopback.

    python bench/hil_overhead.py [--model resnet56] [--runs 200]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import onnxruntime as ort

from hil.client import AgentClient
from models import zoo
from models.measure import feeds


def loopback_transfer(sent: int, received: int, runs: int) -> float:
    """Median seconds to move ``sent`` bytes over TCP loopback and ``received`` back."""
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
        start = time.perf_counter()
        client.sendall(payload_in)
        got = 0
        while got < received:
            got += len(client.recv(1 << 20))
        times.append(time.perf_counter() - start)
    client.close()
    server.close()
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet56")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    model = zoo.load(args.model).SerializeToString()
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
        try:
            agent = AgentClient.connect(f"tcp://127.0.0.1:{port}")
            model_id = agent.load(model)
            for _ in range(10):
                agent.infer(model_id, x)
            trips, computes = [], []
            for _ in range(args.runs):
                outputs, stamps = agent.infer(model_id, x)
                trips.append(stamps.round_trip)
                computes.append(stamps.compute)
            agent.close()
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
    print(f"bytes on loopback    median {transfer * 1e3:.3f} ms (raw TCP, same sizes)")
    verdict = "met" if overhead <= 1e-3 + transfer else "missed"
    print(
        f"bridge overhead      median {overhead * 1e3:.3f} ms per request: target < 1 ms + "
        f"{transfer * 1e3:.3f} ms, {verdict}"
    )


if __name__ == "__main__":
    main()
