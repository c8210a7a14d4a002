"""The reference pipeline written by hand in bare SimPy: what edgesim is measured against.

The system: camera -> 5 ms, 1 Gbit/s link -> edge -> 5 ms, 1 Gbit/s link -> server,
results returned over the same links; Poisson arrivals at 20 requests/s; exponential
service with means 10, 30 and 15 ms on the three devices, one at a time each. A stage's
output of ``--bytes`` bytes crosses to the next device and a result of
``--result-bytes`` returns to the camera. A link direction is a FIFO medium, a
``simpy.Resource``, held for the serialisation time, size × 8 / bandwidth, then the
message propagates for the latency; a zero-byte message only propagates.

This is the model one would write for exactly this system: one process per request, a
Resource per device and per medium, one numpy generator for the draws, a list of
latencies, nothing written. Run as its own process, it prints one JSON line: requests,
mean latency, and the seconds it simulated for.

    python bench/bare_simpy.py [--requests N] [--bytes B] [--result-bytes R] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

MEANS = (0.010, 0.030, 0.015)  # seconds of service on camera, edge, server
LATENCY = 0.005  # seconds per link
BANDWIDTH = 1e9  # bits per second per link direction
RATE = 20.0  # requests per second


def simulate(requests: int, size: float, result: float, seed: int = 1) -> list[float]:
    """Latencies of ``requests`` requests through the pipeline, in completion order."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    devices = [simpy.Resource(env, 1) for _ in MEANS]
    # forward: camera->edge, edge->server; back: server->edge, edge->camera
    forward = [simpy.Resource(env, 1) for _ in range(2)]
    back = [simpy.Resource(env, 1) for _ in range(2)]
    latencies: list[float] = []

    def hop(medium: simpy.Resource, nbytes: float) -> Generator[simpy.Event, Any, None]:
        if nbytes > 0:
            with medium.request() as held:
                yield held
                yield env.timeout(nbytes * 8 / BANDWIDTH)
        yield env.timeout(LATENCY)

    def request() -> Generator[simpy.Event, Any, None]:
        arrival = env.now
        for k, (device, mean) in enumerate(zip(devices, MEANS, strict=True)):
            if k:
                yield from hop(forward[k - 1], size)
            with device.request() as slot:
                yield slot
                yield env.timeout(rng.exponential(mean))
        for medium in back:
            yield from hop(medium, result)
        latencies.append(env.now - arrival)

    def source() -> Generator[simpy.Event, Any, None]:
        for _ in range(requests):
            yield env.timeout(rng.exponential(1 / RATE))
            env.process(request())

    env.process(source())
    env.run()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--bytes", type=float, default=0.0, help="each stage's output")
    parser.add_argument("--result-bytes", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    latencies = simulate(args.requests, args.bytes, args.result_bytes, args.seed)
    seconds = time.perf_counter() - start
    assert len(latencies) == args.requests
    line = {"requests": len(latencies), "mean_latency": float(np.mean(latencies))}
    print(json.dumps(line | {"seconds": seconds}))


if __name__ == "__main__":
    main()
