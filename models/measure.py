"""Measuring a model on this machine with onnxruntime, per layer and end to end.

Per-layer times come from onnxruntime's profiler on the graph as a deployment runs it,
fully optimised: on a 2-core x86 machine that is twice as fast as the unoptimised
graph (NCHWc layouts, fused activations), so profiling unoptimised would mislead.
The time between kernels (scheduling, memory planning) is not any layer's: the profile
records it per kernel, from the end-to-end latency, as ``overhead_per_kernel``.
Optimisation renames kernels: a fused Conv + Relu runs as ``<relu name>_nchwc``. A
kernel's time goes to the graph node whose name is the longest ``_``-separated prefix
of the kernel's name; kernels with no such node (layout reorders) go to the node before
them, and nodes fused into others get no time of their own. The whole-model latency is
measured separately without the profiler. Warm-up runs come first; medians are
reported, as MLPerf does. This module needs only numpy and onnxruntime, so a device
agent can run it.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from typing import Any

import numpy as np
import onnxruntime as ort

SUFFIX = "_kernel_time"


def _options(threads: int, optimise: bool) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimise
        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    return options


def feeds(session: ort.InferenceSession, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the right shape and type (token ids below 1000 for integer inputs)."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        if "int" in i.type:
            out[i.name] = rng.integers(0, 1000, shape).astype(np.int64)
        else:
            out[i.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def end_to_end(model: bytes, threads: int = 1, runs: int = 20, warmup: int = 3) -> list[float]:
    """Wall-clock seconds of ``runs`` inferences after ``warmup`` (optimised graph)."""
    session = ort.InferenceSession(
        model, _options(threads, True), providers=["CPUExecutionProvider"]
    )
    x = feeds(session)
    for _ in range(warmup):
        session.run(None, x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, x)
        times.append(time.perf_counter() - start)
    return times


def per_layer(
    model: bytes, nodes: list[str], threads: int = 1, runs: int = 10, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per run spent on each of ``nodes`` (the graph's node names, in order)."""
    with tempfile.TemporaryDirectory() as folder:
        options = _options(threads, True)
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(folder, "profile")
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        x = feeds(session)
        for _ in range(warmup + runs):
            session.run(None, x)
        trace = session.end_profiling()
        with open(trace, encoding="utf-8") as f:
            events = json.load(f)
    known = set(nodes)
    per_run: list[dict[str, float]] = []
    previous = nodes[0]
    for event in sorted(events, key=lambda e: e.get("ts", 0)):
        if event.get("cat") == "Session" and event["name"] == "model_run":
            per_run.append(defaultdict(float))
        if event.get("cat") != "Node" or not event["name"].endswith(SUFFIX) or not per_run:
            continue
        kernel = event["name"][: -len(SUFFIX)]
        node = _owner(kernel, known) or previous
        previous = node
        per_run[-1][node] += event["dur"] * 1e-6
    runs_kept = per_run[warmup:]
    return {n: [r.get(n, 0.0) for r in runs_kept] for n in nodes}


COMPUTE_OPS = {"Conv", "Gemm", "MatMul", "ConvTranspose"}


def refuse_fused(
    times: dict[str, list[float]], ops: dict[str, str], producers: dict[str, list[str]]
) -> dict[str, list[float]]:
    """Give a fused kernel's time back to the convolution or product it computes.

    A kernel named after an activation or a residual add (``b1.dw.relu6_nchwc``) is the
    convolution upstream of it with the elementwise tail fused in. Walk back through
    elementwise producers to the first compute node that has no time of its own, and move
    the time there, so that per-op-class rates see the convolution's FLOPs and time.
    """
    out = {n: list(t) for n, t in times.items()}
    for node, samples in times.items():
        if ops.get(node) in COMPUTE_OPS or not any(samples):
            continue
        frontier, seen = list(producers.get(node, [])), set()
        while frontier:
            cand = frontier.pop(0)
            if cand in seen:
                continue
            seen.add(cand)
            if ops.get(cand) in COMPUTE_OPS:
                if not any(out.get(cand, [])):
                    out[cand] = list(samples)
                    out[node] = [0.0] * len(samples)
                    break
                continue
            if not any(out.get(cand, [])):
                frontier += producers.get(cand, [])
    return out


def _owner(kernel: str, known: set[str]) -> str | None:
    candidate = kernel
    while candidate not in known and "_" in candidate:
        candidate = candidate.rsplit("_", 1)[0]
    return candidate if candidate in known else None


def device_profile(
    model: bytes,
    name: str,
    nodes: list[str],
    threads: int = 1,
    runs: int = 10,
    ops: dict[str, str] | None = None,
    producers: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A device profile: per-layer medians and spread, and the end-to-end latency.

    With the graph's ``ops`` (node → op type) and ``producers`` (node → the nodes feeding
    it), fused kernels' times go back to their convolutions (:func:`refuse_fused`).
    """
    layers = per_layer(model, nodes, threads, runs)
    kernels = sum(1 for times in layers.values() if any(times))
    if ops is not None and producers is not None:
        layers = refuse_fused(layers, ops, producers)
    whole = end_to_end(model, threads, max(runs, 10))
    summed = sum(float(np.median(t)) for t in layers.values())
    return {
        "overhead_per_kernel": max(0.0, float(np.median(whole)) - summed) / max(kernels, 1),
        "kernels": kernels,
        "model": name,
        "device": {
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "onnxruntime": ort.__version__,
            "threads": threads,
        },
        "runs": runs,
        "end_to_end": _stats(whole),
        "layers": {node: _stats(times) for node, times in layers.items()},
    }


def _stats(times: list[float]) -> dict[str, float]:
    a = np.asarray(times)
    return {
        "median": float(np.median(a)),
        "p10": float(np.percentile(a, 10)),
        "p90": float(np.percentile(a, 90)),
        "mean": float(a.mean()),
        "n": len(a),
    }


def graph_links(model: Any) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    """Node names in order, their op types and their producers, from an ONNX ModelProto."""
    made_by = {out: n.name for n in model.graph.node for out in n.output}
    names = [n.name for n in model.graph.node]
    ops = {n.name: n.op_type for n in model.graph.node}
    producers = {n.name: [made_by[i] for i in n.input if i in made_by] for n in model.graph.node}
    return names, ops, producers
