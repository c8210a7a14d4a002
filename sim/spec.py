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

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LayerSpec(Spec):
    """One row of an inline layer table."""

    name: Name
    op: OpClass
    flops: float = Field(ge=0, description="FLOPs of one inference (2 × MACs)")
    weight_bytes: Bytes = Field(default=0.0, ge=0)
    output_bytes: Bytes = Field(ge=0)


class ModelSpec(Spec):
    """A DNN as an ordered table of layers; ``input_bytes`` is what the source sends."""

    layers: tuple[LayerSpec, ...] = Field(min_length=1)
    input_bytes: Bytes = Field(ge=0)

    def cost_layers(self) -> list[Layer]:
        """The layer table as the cost model's layers."""
        return [Layer(x.name, x.op, x.flops, x.weight_bytes, x.output_bytes) for x in self.layers]


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

    def compute(self) -> Compute | None:
        """The cost model's view of this device, or None without gflops and bandwidth."""
        if self.gflops is None or self.mem_bandwidth is None:
            return None
        return Compute(rates(self.gflops), self.mem_bandwidth)


class LinkSpec(Spec):
    """A network link between two devices, full duplex unless ``shared``."""

    ends: tuple[Name, Name]
    bandwidth: Bandwidth = Field(gt=0)
    latency: Duration = Field(default=0.0, ge=0)
    jitter: Distribution | None = None
    loss: Probability = 0.0
    retransmit_timeout: Duration = Field(default=0.2, ge=0)
    max_retransmits: NonNegativeInt = 10
    shared: Name | None = Field(
        default=None, description="links with the same name share one half-duplex medium"
    )


class StageSpec(Spec):
    """A run of consecutive layers executed on one device."""

    layers: tuple[Name, Name] | Literal["all"] = "all"
    on: Name
    service: Distribution | None = Field(
        default=None, description="service time; replaces the cost model"
    )

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


class FaultToleranceSpec(Spec):
    """What the service does about failures (simulated by the failures issue)."""

    policy: Literal["none", "retry", "failover", "replicate", "local_fallback", "repartition"] = (
        "none"
    )
    heartbeat: Duration = Field(default=1.0, gt=0)
    misses: PositiveInt = 3
    timeout: Duration | None = Field(default=None, gt=0)
    max_attempts: PositiveInt = 3
    backoff: Duration = Field(default=0.0, ge=0)


class OutputsSpec(Spec):
    """Where and what a run writes."""

    dir: Path | None = None
    requests: bool = Field(default=True, description="write requests.csv")


class Scenario(Spec):
    """A whole scenario file."""

    name: Name
    description: str = ""
    seed: NonNegativeInt = 0
    horizon: Duration = Field(gt=0)
    warmup: Duration = Field(default=0.0, ge=0)
    replications: PositiveInt = 1
    catalog: tuple[Path, ...] = Field(default=(), description="extra device catalog files")
    model: ModelSpec | None = None
    devices: dict[Name, DeviceSpec] = Field(min_length=1)
    links: tuple[LinkSpec, ...] = ()
    pipelines: dict[Name, PipelineSpec] = Field(min_length=1)
    workload: tuple[SourceSpec, ...] = Field(min_length=1)
    fault_tolerance: FaultToleranceSpec = FaultToleranceSpec()
    outputs: OutputsSpec = OutputsSpec()
