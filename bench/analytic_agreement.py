"""How close the analytic approximations come to the simulation, case by case.

Single stations G/G/c and a two-station tandem, with gamma inter-arrival times
(given to the simulator as a trace) and gamma service times, over utilisations
0.3-0.9 and coefficients of variation 0.5-2 - the regime in which Kingman,
Allen-Cunneen and QNA are known to be good. Prints one row per case: the
analytic mean latency, the simulated mean with its 95 % interval over 4
replications, and the relative error. docs/analytic.md records the table.

    python bench/analytic_agreement.py [--quick]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from analysis.analytic import analyze
from analysis.stats import interval
from analysis.summary import metrics
from sim import run
from sim.loader import from_dict


def case(
    rho: float, ca: float, cs: float, servers: int, stations: int, horizon: float, seed: int
) -> dict[str, Any]:
    """A scenario of ``stations`` G/G/``servers`` stations in series at utilisation ``rho``."""
    mean_service = 0.010
    rate = rho * servers / mean_service
    rng = np.random.default_rng(seed)
    shape = 1 / ca**2
    gaps = rng.gamma(shape, 1 / rate / shape, int(rate * horizon * 1.2))
    times = np.cumsum(gaps)
    times = times[times < horizon].round(9).tolist()
    devices = {f"s{k}": {"slots": servers} for k in range(stations)}
    links = [{"ends": [f"s{k}", f"s{k + 1}"], "bandwidth": 1e9} for k in range(stations - 1)]
    stages = [
        {"on": f"s{k}", "service": {"kind": "gamma", "mean": mean_service, "cv": cs}}
        for k in range(stations)
    ]
    return {
        "name": f"g{stations}-rho{rho}-ca{ca}-cs{cs}-c{servers}",
        "seed": seed,
        "horizon": horizon,
        "warmup": horizon * 0.05,
        "replications": 1,
        "devices": devices,
        "links": links,
        "pipelines": {"p": {"result_bytes": 0, "stages": stages}},
        "workload": [
            {
                "name": "in",
                "at": "s0",
                "pipeline": "p",
                "arrivals": {"kind": "trace", "times": times},
            }
        ],
    }


def agreement(
    rho: float, ca: float, cs: float, servers: int, stations: int, reps: int, horizon: float
) -> tuple[float, Any]:
    """Analytic mean latency and the interval of simulated means over independent traces."""
    sims = []
    analytic = []
    for r in range(reps):
        spec = from_dict(case(rho, ca, cs, servers, stations, horizon, seed=100 + r))
        analytic.append(analyze(spec)["latency"]["mean"]["value"])
        (rep,) = run(spec)
        sims.append(metrics(rep)["latency"]["mean"])
    return float(np.mean(analytic)), interval(sims)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases and replications")
    args = parser.parse_args()
    reps, horizon = (3, 200.0) if args.quick else (4, 300.0)
    shapes = ((1, 1), (2, 1), (1, 2))  # (servers, stations)
    grid = [
        (rho, ca, cs, servers, stations)
        for servers, stations in shapes
        for rho in (0.3, 0.6, 0.9)
        for ca, cs in ((0.5, 0.5), (0.5, 2.0), (2.0, 0.5), (2.0, 2.0))
    ]
    print("| stations | c | ρ | c_a | c_s | analytic ms | simulated ms (95 % CI) | error |")
    print("|---|---|---|---|---|---|---|---|")
    for rho, ca, cs, servers, stations in grid:
        a, est = agreement(rho, ca, cs, servers, stations, reps, horizon)
        err = (a - est.mean) / est.mean
        print(f"| {stations} | {servers} | {rho} | {ca} | {cs} | {a * 1e3:.2f} | "
              f"{est.mean * 1e3:.2f} [{est.low * 1e3:.2f}, {est.high * 1e3:.2f}] | {err * 100:+.1f} % |")  # fmt: skip


if __name__ == "__main__":
    main()
