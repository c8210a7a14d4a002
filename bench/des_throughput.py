"""Simulated requests per wall-clock second: edgesim against a bare SimPy model.

The reference pipeline: camera -> 5 ms link -> edge -> 5 ms link -> server,
results returned over the same links; Poisson arrivals at 20 requests/s;
exponential service with means 10, 30 and 15 ms; 100,000 requests; zero-size
messages, so links only add latency. Both models run in this process, one
after the other, each best of ``--repeat`` runs. The bare model is what one
would write by hand in SimPy for exactly this system: one process per
request, a Resource per device, a numpy generator for the draws, a list of
latencies.

Beside the core it times what a user runs: the whole ``edgesim run`` process on the same
scenario written as a file, writing summary.json and requests.csv (one row per request),
with its CPU seconds (user + system of the child) beside its wall seconds. Every figure
is also given as a ratio to the bare model measured in the same run, so the ratios
travel between machines better than the absolute rates.

    python bench/des_throughput.py [--requests N] [--repeat K]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import simpy
import yaml

from analysis.queueing import jackson_tandem_sojourn
from sim import run
from sim.loader import from_dict

MEANS = (0.010, 0.030, 0.015)
LATENCY = 0.005
RATE = 20.0


def scenario(requests: int) -> dict[str, Any]:
    devices = ("camera", "edge", "server")
    return {
        "name": "reference-pipeline",
        "seed": 1,
        "horizon": requests / RATE * 2,
        "devices": {d: {} for d in devices},
        "links": [
            {"ends": ["camera", "edge"], "bandwidth": "1Gbps", "latency": LATENCY},
            {"ends": ["edge", "server"], "bandwidth": "1Gbps", "latency": LATENCY},
        ],
        "pipelines": {
            "p": {
                "result_bytes": 0,
                "stages": [
                    {"on": d, "service": {"kind": "exponential", "mean": m}}
                    for d, m in zip(devices, MEANS, strict=True)
                ],
            }
        },
        "workload": [
            {"name": "cam", "at": "camera", "pipeline": "p", "count": requests,
             "arrivals": {"kind": "poisson", "rate": RATE}}
        ],
    }  # fmt: skip


def edgesim(requests: int) -> tuple[float, float]:
    """Wall seconds and mean latency of edgesim on the reference pipeline."""
    spec = from_dict(scenario(requests))
    start = time.perf_counter()
    (rep,) = run(spec)
    wall = time.perf_counter() - start
    assert len(rep.sources[0].ids) == requests
    return wall, float(rep.sources[0].latency.mean())


def whole_process(requests: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``edgesim run`` on the reference pipeline, files included."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "reference.yaml"
        file.write_text(yaml.safe_dump(scenario(requests)), encoding="utf-8")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sim", "run", str(file), "--out", f"{tmp}/out", "--json"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows = Path(f"{tmp}/out/requests.csv").read_text(encoding="utf-8").count("\n") - 1
        assert rows == requests, rows
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def bare(requests: int) -> tuple[float, float]:
    """Wall seconds and mean latency of a hand-written SimPy model of the same system."""
    env = simpy.Environment()
    rng = np.random.default_rng(1)
    devices = [simpy.Resource(env, 1) for _ in MEANS]
    latencies: list[float] = []

    def request(env: simpy.Environment) -> Any:
        arrival = env.now
        for k, (device, mean) in enumerate(zip(devices, MEANS, strict=True)):
            if k:
                yield env.timeout(LATENCY)
            with device.request() as slot:
                yield slot
                yield env.timeout(rng.exponential(mean))
        yield env.timeout(LATENCY)
        yield env.timeout(LATENCY)
        latencies.append(env.now - arrival)

    def source(env: simpy.Environment) -> Any:
        for _ in range(requests):
            yield env.timeout(rng.exponential(1 / RATE))
            env.process(request(env))

    start = time.perf_counter()
    env.process(source(env))
    env.run()
    wall = time.perf_counter() - start
    assert len(latencies) == requests
    return wall, float(np.mean(latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.requests
    results = {}
    for name, model in (("bare SimPy", bare), ("edgesim", edgesim)):
        runs = [model(n) for _ in range(args.repeat)]
        wall = min(w for w, _ in runs)
        results[name] = n / wall
        print(f"{name:>10}: {n / wall:10,.0f} requests/s  (best of {args.repeat}: {wall:.2f} s, "
              f"mean latency {runs[0][1] * 1e3:.1f} ms)")  # fmt: skip
    exact = jackson_tandem_sojourn(RATE, [1 / m for m in MEANS]) + 4 * LATENCY
    print(f"     exact: mean latency {exact * 1e3:.1f} ms (Jackson tandem + 4 link latencies)")
    print(f"     ratio: {results['edgesim'] / results['bare SimPy']:.2f}x (edgesim / bare)")
    procs = [whole_process(n) for _ in range(args.repeat)]
    wall, cpu = min(procs)
    bare_wall = n / results["bare SimPy"]
    print(f"   process: edgesim run with its files, best of {args.repeat}: {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU = {n / wall:,.0f} requests per wall second; "
          f"{wall / bare_wall:.2f}x the bare model's wall time")  # fmt: skip


if __name__ == "__main__":
    main()
