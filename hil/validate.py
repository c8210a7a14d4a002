"""Validation: the simulator's prediction against what the real devices did.

1. The bridge connects and loads the partitions; a few warm-up calls per bound stage
   measure the time a call spends outside the device's compute (transfer, framing).
2. Each bound device is calibrated: the whole model is profiled on it, layer by layer.
3. Prediction: the scenario with each bound device driven by its calibrated profile and
   its links carrying the measured per-call overhead as latency, simulated.
4. Measurement: the same scenario and seed (so the same arrival times) in real time, the
   bound stages executed on the agents.
5. The table: latency mean, p50 and p95, throughput, each stage's service time and the
   transfer time into each bound stage, predicted and measured, with the relative error
   and whether it is within tolerance (mean 10 %, p95 20 %, the rest 20 %).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from analysis.summary import metrics
from hil.bridge import Bridge, model_graph
from sim.records import Replication, Status
from sim.run import run
from sim.spec import DeviceSpec, InjectionSpec, Scenario

TOLERANCE = {"latency mean": 0.10, "latency p95": 0.20}
DEFAULT_TOLERANCE = 0.20


def calibrated(
    s: Scenario, profiles: Mapping[str, Path], overheads: Mapping[str, float]
) -> Scenario:
    """The scenario with bound devices profiled and their links carrying the call overhead."""
    devices = dict(s.devices)
    for name, path in profiles.items():
        fields = devices[name].model_dump(by_alias=True, exclude_none=True)
        fields.update(profile=str(path.resolve()), gflops=None, mem_bandwidth=None)
        devices[name] = DeviceSpec.model_validate(
            {k: v for k, v in fields.items() if v is not None}
        )
    links = []
    for link in s.links:
        bound = [d for d in link.ends if d in overheads]
        if bound:
            link = link.model_copy(
                update={"latency": overheads[bound[0]] / 2, "bandwidth": 1e12, "jitter": None}
            )
        links.append(link)
    return s.model_copy(update={"devices": devices, "links": tuple(links)})


def validate(
    s: Scenario, bindings: Mapping[str, str], out: Path, token: str | None = None, runs: int = 20
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    bridge = Bridge(s, bindings, token)
    try:
        gaps = bridge.warm_up()
        overheads = {bridge.stages[key].device: gap for key, gap in gaps.items()}
        graph = model_graph(s)
        profiles = {}
        for device, client in bridge.clients.items():
            model_id = client.load(graph.SerializeToString(), "calibration")
            result = client.profile(model_id, graph, runs=runs)
            profiles[device] = out / f"profile-{device}.json"
            profiles[device].write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        prediction = calibrated(s, profiles, overheads)
        (predicted,) = run(prediction, replications=1)
        measured = bridge.run()
        rows = compare(predicted, measured, bridge)
    finally:
        bridge.close()
    report = {"scenario": s.name, "bindings": dict(bindings), "overheads": overheads, "rows": rows}
    (out / "validation.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def compare(predicted: Replication, measured: Replication, bridge: Bridge) -> list[dict[str, Any]]:
    p, m = metrics(predicted), metrics(measured)
    rows = [
        _row("latency mean", p["latency"]["mean"], m["latency"]["mean"]),
        _row("latency p50", p["latency"]["p50"], m["latency"]["p50"]),
        _row("latency p95", p["latency"]["p95"], m["latency"]["p95"]),
        _row("throughput", p["throughput"], m["throughput"]),
    ]
    src_p = predicted.sources[0]
    # per-stage figures of the requests sent before any injected failure: afterwards the
    # stage may be served elsewhere and its transfers include re-sends
    before = min((f.at for f in bridge.injected.values()), default=float("inf"))
    phases_p, phases_m = _phases(predicted, before), _phases(measured, before)
    for k, device in enumerate(src_p.stages):
        key = (src_p.pipeline, k)
        if key in bridge.stages:
            stamps = bridge.stages[key].stamps[: max(1, _count(measured, before))]
            compute = float(np.mean([x.compute for x in stamps]))
            wire = float(np.mean([x.round_trip - x.compute for x in stamps]))
            around = phases_p[f"transfer{k}"] + _after(phases_p, k)
            rows.append(
                _row(f"stage {k} service ({device}, real)", phases_p[f"service{k}"], compute)
            )
            rows.append(_row(f"transfer to and from {device}", around, wire))
        else:
            name = f"stage {k} service ({device}, simulated)"
            rows.append(_row(name, phases_p[f"service{k}"], phases_m[f"service{k}"]))
    heartbeat = bridge.scenario.fault_tolerance.heartbeat
    for device, fault in bridge.injected.items():
        rows += _fault_rows(device, fault, predicted, measured, heartbeat)
    return rows


def _fault_rows(
    device: str, fault: InjectionSpec, predicted: Replication, measured: Replication,
    heartbeat: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """An outage (crash, hang, drop): detection delay and recovery time against the
    simulated ones (within one heartbeat). A slow device: the mean latency of the
    requests sent while it was slow."""
    at = fault.at
    if fault.mode == "slow":
        end = at + (fault.duration or float("inf"))
        during = [_mean_latency(rep, at, end) for rep in (predicted, measured)]
        return [_row(f"latency mean while slow ({device})", *during)]
    rows = []
    p_det = _first_down(predicted, device, at)
    m_det = _first_down(measured, device, at)
    if p_det is not None and m_det is not None:
        rows.append(_abs_row(f"detection delay ({device})", p_det - at, m_det - at, heartbeat))
    rows.append(
        _abs_row("recovery time", _recovery(predicted, at), _recovery(measured, at), heartbeat)
    )
    return rows


def _first_down(rep: Replication, device: str, at: float) -> float | None:
    faults = rep.faults
    if faults is None:
        return None
    times = [
        d.time
        for d in faults.declarations
        if d.device == device and d.state == "down" and d.time >= at
    ]
    return min(times, default=None)


def _mean_latency(rep: Replication, start: float, end: float) -> float:
    src = rep.sources[0]
    ok = (src.arrival >= start) & (src.arrival < end) & (src.status <= Status.LATE)
    return float(src.latency[ok].mean())


def _recovery(rep: Replication, at: float) -> float:
    """From the failure to the first successful completion of a request sent after it."""
    src = rep.sources[0]
    ok = (src.arrival >= at) & (src.status <= Status.LATE)
    return float(src.completion[ok].min()) - at if ok.any() else float("nan")


def _abs_row(name: str, predicted: float, measured: float, tolerance: float) -> dict[str, Any]:
    diff = predicted - measured
    error = diff / measured if measured else float("nan")
    return {
        "metric": name,
        "predicted": predicted,
        "measured": measured,
        "error": error,
        "tolerance": tolerance,
        "absolute": True,
        "within": bool(abs(diff) <= tolerance),
    }


def _after(phases: dict[str, float], k: int) -> float:
    """The transfer out of stage k: into the next stage, or the result back."""
    return phases.get(f"transfer{k + 1}", phases["transfer_result"])


def _count(rep: Replication, before: float) -> int:
    src = rep.sources[0]
    return int(((src.arrival < before) & (src.status <= Status.LATE)).sum())


def _phases(rep: Replication, before: float) -> dict[str, float]:
    src = rep.sources[0]
    ok = (src.status <= Status.LATE) & (src.arrival >= rep.start) & (src.arrival < before)
    return {name: float(np.mean(v[ok])) for name, v in src.phases().items()}


def _row(name: str, predicted: float, measured: float) -> dict[str, Any]:
    error = (predicted - measured) / measured if measured else float("nan")
    tolerance = TOLERANCE.get(name, DEFAULT_TOLERANCE)
    return {"metric": name, "predicted": predicted, "measured": measured, "error": error,
            "tolerance": tolerance, "within": bool(abs(error) <= tolerance)}  # fmt: skip
