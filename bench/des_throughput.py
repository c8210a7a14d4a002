"""Simulated requests per wall-clock second: edgesim's core against a bare SimPy model.

The reference pipeline of ``bench/bare_simpy.py``: camera -> 5 ms link -> edge -> 5 ms
link -> server, results returned over the same links; Poisson arrivals at 20 requests/s;
exponential service with means 10, 30 and 15 ms; 100,000 requests. With ``--bytes B``
each stage's output (and with ``--result-bytes R`` the result) has that size, and each
link direction is a FIFO medium held for the serialisation time; with zero-size
messages (the default) links only add latency. Both models run in this process, one
after the other, each best of ``--repeat`` runs, timing the simulation alone; the bare
model is what one would write by hand in SimPy for exactly this system.

The whole ``edgesim run`` process, imports and results files included, against the bare
model in a process of its own is ``bench/whole_process.py``.

    python bench/des_throughput.py [--requests N] [--repeat K] [--bytes B] [--result-bytes R]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bare_simpy import BANDWIDTH, LATENCY, MEANS, RATE, simulate  # this folder's bare model
from whole_process import scenario

from analysis.queueing import jackson_tandem_sojourn
from sim import run
from sim.loader import from_dict


def edgesim(requests: int, size: float, result: float) -> tuple[float, float]:
    """Wall seconds and mean latency of edgesim's simulation of the reference pipeline."""
    spec = from_dict(scenario(requests, size, result))
    start = time.perf_counter()
    (rep,) = run(spec)
    wall = time.perf_counter() - start
    assert len(rep.sources[0].ids) == requests
    return wall, float(rep.sources[0].latency.mean())


def bare(requests: int, size: float, result: float) -> tuple[float, float]:
    """Wall seconds and mean latency of the hand-written SimPy model of the same system."""
    start = time.perf_counter()
    latencies = simulate(requests, size, result)
    wall = time.perf_counter() - start
    assert len(latencies) == requests
    return wall, float(np.mean(latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bytes", type=float, default=0.0, help="each stage's output")
    parser.add_argument("--result-bytes", type=float, default=0.0)
    args = parser.parse_args()
    n, size, result = args.requests, args.bytes, args.result_bytes
    rates = {}
    for name, model in (("bare SimPy", bare), ("edgesim", edgesim)):
        runs = [model(n, size, result) for _ in range(args.repeat)]
        wall = min(w for w, _ in runs)
        rates[name] = n / wall
        print(f"{name:>10}: {n / wall:10,.0f} requests/s  (best of {args.repeat}: {wall:.2f} s, "
              f"mean latency {runs[0][1] * 1e3:.2f} ms)")  # fmt: skip
    # every message's serialisation: two stage outputs forward, the result back twice
    wire = (2 * size + 2 * result) * 8 / BANDWIDTH
    exact = jackson_tandem_sojourn(RATE, [1 / m for m in MEANS]) + 4 * LATENCY
    print(f"     exact: mean latency {exact * 1e3:.2f} ms (Jackson tandem + 4 link latencies)"
          + (f", + {wire * 1e3:.3f} ms on the wire (and any wait for a medium)" if wire else ""))  # fmt: skip
    print(f"     ratio: {rates['edgesim'] / rates['bare SimPy']:.2f}x (edgesim / bare)")


if __name__ == "__main__":
    main()
