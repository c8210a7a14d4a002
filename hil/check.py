"""One real exchange with an agent, and what it should have given: ``edgesim hil check``.

The check a freshly installed device deserves, and the one the tests run against an agent
under every interpreter and on an emulated ARM64 userland: load a model, infer (outputs
equal to this host's onnxruntime within a tolerance), heartbeat, clock sync, profile and a
``slow`` fault (only against an ``--allow-faults`` agent), in that order. Host side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hil.client import AgentClient, HilRefused
from hil.protocol import Kind, Message

SLOW = 0.05  # seconds the slow fault adds to an inference


@dataclass
class Exchange:
    """What one exchange measured."""

    device: dict[str, Any]
    error: float  # largest absolute difference from the host's outputs
    compute: float  # seconds on the device for one inference
    round_trip: float
    heartbeat_models: list[str]
    offset: float  # device clock minus host clock, seconds
    uncertainty: float
    profile_seconds: float  # the profile's end-to-end median
    slowed: float | None = None  # round trip under the slow fault; None without faults
    notes: list[str] = field(default_factory=list)

    def problems(self, tolerance: float, same_clock: bool) -> list[str]:
        """What is wrong with this exchange, one line each (none: it passed)."""
        out = []
        if not self.error <= tolerance:
            out.append(f"outputs differ from the host's by {self.error:.3g} (> {tolerance:g})")
        if not 0 < self.compute < self.round_trip:
            out.append(f"stamps out of order: compute {self.compute}, trip {self.round_trip}")
        if "check" not in self.heartbeat_models:
            out.append(f"heartbeat lists {self.heartbeat_models}, not the loaded model")
        if same_clock and abs(self.offset) > self.uncertainty + 2e-3:
            out.append(f"clock offset {self.offset:.3g} s beyond ±{self.uncertainty:.3g} s")
        if not self.profile_seconds > 0:
            out.append("the profile has no end-to-end time")
        if self.slowed is not None and self.slowed < SLOW:
            out.append(f"a {SLOW} s slow fault left a round trip of {self.slowed:.3g} s")
        return out


def exchange(agent: AgentClient, graph: Any, inputs: dict[str, np.ndarray]) -> Exchange:
    """Run the exchange against ``agent`` with ``graph`` (an ONNX ModelProto)."""
    import onnxruntime as ort

    model = graph.SerializeToString()
    local = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    reference = dict(zip([o.name for o in local.get_outputs()], local.run(None, inputs)))  # noqa: B905
    model_id = agent.load(model, "check")
    outputs, stamps = agent.infer(model_id, inputs)
    error = max(float(np.abs(outputs[n] - r).max()) for n, r in reference.items())
    beat = agent.heartbeat()
    offset, uncertainty = agent.sync_clock()
    profile = agent.profile(model_id, graph, runs=3)
    result = Exchange(
        device=dict(agent.info.get("device", {})),
        error=error,
        compute=stamps.compute,
        round_trip=stamps.round_trip,
        heartbeat_models=list(beat.get("models", [])),
        offset=offset,
        uncertainty=uncertainty,
        profile_seconds=float(profile["end_to_end"]["median"]),
    )
    result.slowed = _slow_fault(agent, model_id, inputs, result.notes)
    return result


def _slow_fault(
    agent: AgentClient, model_id: str, inputs: dict[str, np.ndarray], notes: list[str]
) -> float | None:
    """The round trip while a slow fault holds (then the fault is lifted); None when the
    agent does not take faults."""
    try:
        _slow(agent, SLOW)
    except HilRefused:
        notes.append("faults not tried: the agent runs without --allow-faults")
        return None
    _, stamps = agent.infer(model_id, inputs, timeout=30)
    _slow(agent, 0.0)
    return stamps.round_trip


def _slow(agent: AgentClient, seconds: float) -> None:
    """A slow fault, waiting for the agent's answer (HilRefused without --allow-faults)."""
    agent.request(Message(Kind.FAULT, {"mode": "slow", "seconds": seconds}))
