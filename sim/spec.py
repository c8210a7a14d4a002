"""The scenario format, version 1: what a scenario file may say.

These pydantic models are the input boundary and nothing more: they check the
shape, type and range of every field (unknown keys are errors) and convert
quantities to SI floats. Checks that need more than one field at a time
(a stage on a device that does not exist, a partition too big for its device)
are made by :mod:`sim.loader` after this pass. All models are frozen.

``docs/scenario-format.md`` documents every key; ``scenarios/scenario.schema.json``
is exported from :class:`Scenario` for editors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.cost import Compute, Layer, rates
from sim.distributions import Distribution, read_column
from sim.quantities import Bandwidth, ByteRate, Bytes, Duration, Power, Rate

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")]
OpClass = Literal["conv", "depthwise", "gemm", "attention", "pool", "elementwise"]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
GFlops = Annotated[float, Field(gt=0)]


class Spec(BaseModel):
    """Base of every scenario model: frozen, and unknown keys are errors."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class LayerSpec(Spec):
    """One row of an inline layer table."""

    name: str = Field(min_length=1)
    op: OpClass
    flops: float = Field(ge=0, description="FLOPs of one inference (2 × MACs)")
    weight_bytes: Bytes = Field(default=0.0, ge=0)
    output_bytes: Bytes = Field(ge=0)


class ModelSpec(Spec):
    """A DNN as an ordered table of layers; ``input_bytes`` is what the source sends."""

    layers: tuple[LayerSpec, ...] = Field(min_length=1)
    input_bytes: Bytes = Field(ge=0)
    source: str | None = Field(
        default=None, description="where a resolved table came from (zoo:NAME or onnx:PATH)"
    )

    def cost_layers(self) -> list[Layer]:
        """The layer table as the cost model's layers."""
        return [Layer(x.name, x.op, x.flops, x.weight_bytes, x.output_bytes) for x in self.layers]


class ZooModel(Spec):
    """A model of the zoo (``edgesim model list``), with its builder's parameters."""

    zoo: str
    params: dict[str, int] = Field(default_factory=dict, description="e.g. {seq: 32} for gpt2")


class OnnxModel(Spec):
    """The user's own ONNX file (fixed shapes), relative to the scenario."""

    onnx: Path


class FailureSpec(Spec):
    """How a component fails: crash–recover with a ``ttr``, crash–stop without one."""

    ttf: Distribution = Field(description="time to failure, from start or from the last repair")
    ttr: Distribution | None = Field(default=None, description="time to repair; none: never")


class GilbertElliott(Spec):
    """Bursty loss: a two-state Markov chain stepped once per transmission attempt.

    In the good state an attempt is lost with ``loss_good``, in the bad state with
    ``loss_bad``. The long-run loss rate is π_bad × loss_bad + π_good × loss_good with
    π_bad = p_good_bad / (p_good_bad + p_bad_good); the mean bad burst lasts
    1 / p_bad_good attempts.
    """

    kind: Literal["gilbert_elliott"]
    p_good_bad: float = Field(gt=0, le=1)
    p_bad_good: float = Field(gt=0, le=1)
    loss_bad: float = Field(default=1.0, ge=0, le=1)
    loss_good: float = Field(default=0.0, ge=0, le=1)

    @property
    def mean(self) -> float:
        bad = self.p_good_bad / (self.p_good_bad + self.p_bad_good)
        return bad * self.loss_bad + (1 - bad) * self.loss_good


class DeviceSpec(Spec):
    """A compute device: a catalog ``type``, inline figures, or a type with overrides."""

    type: str | None = None
    gflops: GFlops | dict[OpClass, GFlops] | None = Field(
        default=None, description="GFLOP/s, one figure or one per op class"
    )
    mem_bandwidth: ByteRate | None = Field(default=None, gt=0)
    memory: Bytes | None = Field(default=None, gt=0)
    power_idle: Power | None = Field(default=None, ge=0)
    power_busy: Power | None = Field(default=None, ge=0)
    slots: PositiveInt = Field(default=1, description="inferences served at once")
    discipline: Literal["fifo", "priority"] = "fifo"
    queue_limit: NonNegativeInt | None = Field(
        default=None, description="requests allowed to wait; one more is dropped"
    )
    service_noise: Distribution | None = Field(
        default=None, description="a factor multiplying every cost-model service time"
    )
    node_overhead: Duration = Field(
        default=0.0, ge=0, description="runtime overhead per layer that does work"
    )
    load_bandwidth: ByteRate | None = Field(
        default=None, gt=0, description="how fast partitions load after a restart"
    )
    failure: FailureSpec | None = None
    profile: Path | None = Field(
        default=None, description="a measured per-layer profile; replaces the roofline here"
    )
    _profile: dict[str, float] = PrivateAttr(default_factory=dict)
    _overhead: float = PrivateAttr(default=0.0)

    @model_validator(mode="after")
    def _read_profile(self, info: ValidationInfo) -> DeviceSpec:
        if self.profile is None:
            return self
        base = Path((info.context or {}).get("base", "."))
        try:
            data = json.loads((base / self.profile).read_text(encoding="utf-8"))
            self._profile = {k: float(v["median"]) for k, v in data["layers"].items()}
            self._overhead = float(data.get("overhead_per_kernel", 0.0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot read profile {self.profile}: {exc}") from None
        return self

    def measured(self, layers: Sequence[str]) -> float | None:
        """Seconds the profile gives for running ``layers``; None without a profile.

        Raises ``KeyError`` naming a layer the profile lacks.
        """
        if self.profile is None:
            return None
        times = [self._profile[name] for name in layers]
        return sum(times) + self._overhead * sum(1 for t in times if t > 0)

    def compute(self) -> Compute | None:
        """The cost model's view of this device, or None without gflops and bandwidth."""
        if self.gflops is None or self.mem_bandwidth is None:
            return None
        return Compute(rates(self.gflops), self.mem_bandwidth, self.node_overhead)


class LinkSpec(Spec):
    """A network link between two devices, full duplex unless ``shared``."""

    ends: tuple[Name, Name]
    bandwidth: Bandwidth = Field(gt=0)
    latency: Duration = Field(default=0.0, ge=0)
    jitter: Distribution | None = None
    loss: Probability | GilbertElliott = 0.0
    retransmit_timeout: Duration = Field(default=0.2, ge=0)
    max_retransmits: NonNegativeInt = 10
    shared: Name | None = Field(
        default=None, description="links with the same name share one half-duplex medium"
    )
    failure: FailureSpec | None = Field(default=None, description="outages of the whole link")

    @property
    def name(self) -> str:
        return f"{self.ends[0]}-{self.ends[1]}"


class FaultToleranceSpec(Spec):
    """What the service does about failures; see docs/failures.md.

    Detection: every device sends a heartbeat every ``heartbeat`` to each device
    that sends it work; a beat is missed when the next is due without it, and
    after ``misses`` missed beats the sender declares the device down.
    """

    policy: Literal["none", "retry", "failover", "replicate", "local_fallback", "repartition"] = (
        "none"
    )
    heartbeat: Duration = Field(default=1.0, gt=0)
    misses: PositiveInt = 3
    timeout: Duration | None = Field(
        default=None, gt=0, description="a sender's wait for an answer before it re-sends"
    )
    max_attempts: PositiveInt = 3
    backoff: Duration = Field(default=0.0, ge=0, description="extra wait before each re-send")
    mode: Literal["cold", "hot"] = Field(
        default="cold", description="failover: load the partition on switch-over, or preloaded"
    )
    switch_back: bool = Field(default=True, description="failover: return to the primary")
    reconfiguration: Duration = Field(
        default=0.0, ge=0, description="repartition: time to apply a new mapping"
    )


class StageSpec(Spec):
    """A run of consecutive layers executed on one device."""

    layers: tuple[str, str] | Literal["all"] = Field(
        default="all",
        description="[first, last] layer names of a table; cut points (or input/output) of "
        "a zoo or ONNX model",
    )
    on: Name
    service: Distribution | None = Field(
        default=None, description="service time; replaces the cost model"
    )
    standby: tuple[Name, ...] = Field(default=(), description="failover: backup devices")
    replicas: tuple[Name, ...] = Field(default=(), description="replicate: extra devices")
    load_time: Duration | None = Field(
        default=None, ge=0, description="partition load time; default weights / load_bandwidth"
    )
    fault_tolerance: FaultToleranceSpec | None = None

    def layer_range(self, model: ModelSpec | None) -> range:
        """Indices of this stage's layers in ``model`` (empty without a model).

        Raises ``KeyError`` naming a layer the model does not have.
        """
        if model is None:
            return range(0)
        if self.layers == "all":
            return range(len(model.layers))
        index = {layer.name: i for i, layer in enumerate(model.layers)}
        first, last = (index[name] for name in self.layers)
        return range(first, last + 1)


class PipelineSpec(Spec):
    """The stages a request passes through, in order."""

    stages: tuple[StageSpec, ...] = Field(min_length=1)
    result_bytes: Bytes = Field(default=1000.0, ge=0)
    fault_tolerance: FaultToleranceSpec | None = None
    strategy: MdiSpec | None = Field(
        default=None, description="its sources' tasks allocated hop by hop (docs/pa-mdi.md)"
    )


class Periodic(Spec):
    """One request every 1/rate, optionally jittered, starting at ``offset``."""

    kind: Literal["periodic"]
    rate: Rate = Field(gt=0)
    jitter: Distribution | None = None
    offset: Duration = Field(default=0.0, ge=0)


class Poisson(Spec):
    """Exponential inter-arrival times with mean 1/rate."""

    kind: Literal["poisson"]
    rate: Rate = Field(gt=0)


class Trace(Spec):
    """Arrivals at recorded times, given inline or as a one-column file (seconds)."""

    kind: Literal["trace"]
    times: tuple[Duration, ...] | None = None
    file: Path | None = None
    _times: list[float] = PrivateAttr()

    @model_validator(mode="after")
    def _load(self, info: ValidationInfo) -> Trace:
        if (self.times is None) == (self.file is None):
            raise ValueError("give exactly one of times or file")
        data = np.asarray(self.times) if self.times is not None else read_column(self.file, info)
        if (data < 0).any():
            raise ValueError("arrival times must not be negative")
        self._times = sorted(data.tolist())
        return self

    @property
    def sorted_times(self) -> list[float]:
        """The arrival times in order."""
        return self._times


Arrivals = Annotated[Periodic | Poisson | Trace, Field(discriminator="kind")]


class SourceSpec(Spec):
    """A stream of inference requests entering a pipeline at a device (a camera, say)."""

    name: Name
    at: Name
    pipeline: Name
    arrivals: Arrivals
    priority: int = Field(default=0, description="higher is served first")
    deadline: Duration | None = Field(default=None, gt=0)
    count: PositiveInt | None = Field(default=None, description="stop after this many")


class InjectionSpec(Spec):
    """A scheduled failure, for reproducible experiments.

    ``crash``: the component goes down, losing what it holds, and a device reloads its
    partitions when it comes back. ``hang``: a device stops answering (requests and
    heartbeats) but keeps its state. ``drop``: a device's connection closes and it
    cannot be reached, state kept. ``slow``: a device keeps serving, each service
    ``delay`` longer, for ``duration``.
    """

    at: Duration = Field(ge=0)
    target: Name = Field(description="a device, or a link as 'a-b'")
    duration: Duration | None = Field(default=None, gt=0, description="none: permanent")
    mode: Literal["crash", "hang", "drop", "slow"] = "crash"
    delay: Duration | None = Field(default=None, gt=0, description="added to each service (slow)")

    @model_validator(mode="after")
    def _delay_for_slow(self) -> InjectionSpec:
        if self.mode == "slow" and self.delay is None:
            raise ValueError("mode 'slow' needs a delay (added to every service)")
        if self.mode != "slow" and self.delay is not None:
            raise ValueError(f"delay applies to mode 'slow' only (mode is {self.mode!r})")
        return self

    @property
    def outage(self) -> bool:
        """Whether the target is unavailable while it lasts (all but ``slow``)."""
        return self.mode != "slow"


class OutputsSpec(Spec):
    """Where and what a run writes."""

    dir: Path | None = None
    requests: bool = Field(
        default=True, description="write the requests file (Parquet, or CSV with --format csv)"
    )


class Scenario(Spec):
    """A whole scenario file."""

    name: Name
    description: str = ""
    seed: NonNegativeInt = 0
    horizon: Duration = Field(gt=0)
    warmup: Duration = Field(default=0.0, ge=0)
    replications: PositiveInt = 1
    catalog: tuple[Path, ...] = Field(default=(), description="extra device catalog files")
    model: ModelSpec | ZooModel | OnnxModel | str | None = Field(
        default=None, description="a layer table, a zoo name, {zoo: NAME, params}, or {onnx: PATH}"
    )
    devices: dict[Name, DeviceSpec] = Field(min_length=1)
    links: tuple[LinkSpec, ...] = ()
    pipelines: dict[Name, PipelineSpec] = Field(default_factory=dict)
    graphs: dict[Name, GraphSpec] = Field(
        default_factory=dict, description="dataflow graphs, each with its sources (docs/graphs.md)"
    )
    workload: tuple[SourceSpec, ...] = Field(default=(), validate_default=True)
    fault_tolerance: FaultToleranceSpec = FaultToleranceSpec()
    failures: tuple[InjectionSpec, ...] = ()
    outputs: OutputsSpec = OutputsSpec()

    @field_validator("workload")
    @classmethod
    def _some_source(
        cls, workload: tuple[SourceSpec, ...], info: ValidationInfo
    ) -> tuple[SourceSpec, ...]:
        if not workload and info.data.get("graphs", True) == {}:  # absent if it failed
            raise ValueError("list at least one source here or under a graph's sources")
        return workload

    @property
    def table(self) -> ModelSpec | None:
        """The model as a layer table; zoo and ONNX models are turned into one on loading."""
        if self.model is None or isinstance(self.model, ModelSpec):
            return self.model
        raise ValueError(f"model {self.model!r} is not resolved; load the scenario with sim.load")

    def policy(self, pipeline: str, stage: int) -> FaultToleranceSpec:
        """The fault-tolerance policy of a stage: its own, its pipeline's, or the scenario's."""
        p = self.pipelines[pipeline]
        return p.stages[stage].fault_tolerance or p.fault_tolerance or self.fault_tolerance


from sim.graph.spec import GraphSpec  # noqa: E402  (graph specs are built of this module's)
from sim.mdi.spec import MdiSpec  # noqa: E402  (so is the MDI strategy)

PipelineSpec.model_rebuild()
Scenario.model_rebuild()
