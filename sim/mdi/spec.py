"""The ``strategy:`` key of a pipeline: model-distributed inference decided hop by hop.

A pipeline with ``strategy: {kind: pa-mdi, ...}`` keeps its ``stages`` (what ``analyze``
and a plain ``plan`` see: its static placement), but its sources' requests move as
tasks of the MDI engine (:mod:`sim.mdi.engine`): the model is split into
``partitions`` at its cut points, and the worker holding a task runs its next
partition or offloads it to a neighbour, by the rule ``kind`` names
(:mod:`sim.mdi.rules`). See docs/pa-mdi.md.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PositiveInt, field_validator

from sim.quantities import Bytes, Duration
from sim.spec import Name, Spec

Weight = Annotated[float, Field(gt=0)]
Factor = Annotated[float, Field(gt=0, le=1)]


class MdiSpec(Spec):
    """How the tasks of a pipeline's sources are allocated to workers."""

    kind: str = Field(description="the decision rule: pa-mdi, ms-mdi, ar-mdi or local")
    partitions: PositiveInt | tuple[str, ...] = Field(
        default=4, description="how many partitions, or the cut points to split at, in order"
    )
    weights: dict[Name, Weight] = Field(
        default_factory=dict, description="priority weight γ per source name (default 1)"
    )
    alpha: dict[Name, Factor] = Field(
        default_factory=dict,
        description="success factor α per source name, its model's accuracy (default 1)",
    )
    workers: tuple[Name, ...] | None = Field(
        default=None, description="the devices that take tasks (default: every device)"
    )
    state_period: Duration = Field(
        default=0.1, gt=0, description="how often a worker sends its state to its neighbours"
    )
    state_bytes: Bytes = Field(default=64.0, ge=0, description="the size of a state message")
    handshake_bytes: Bytes = Field(
        default=32.0, ge=0, description="the size of a request- or clear-to-compute message"
    )
    timeout: Duration = Field(
        default=0.5, gt=0, description="ar-mdi: re-offload a task not started by then"
    )

    @field_validator("kind")
    @classmethod
    def _known(cls, kind: str) -> str:
        from sim.mdi.rules import RULES

        if kind not in RULES:
            raise ValueError(f"unknown rule {kind!r}; choose one of {', '.join(RULES)}")
        return kind

    def weight(self, source: str) -> float:
        """γ of ``source``."""
        return self.weights.get(source, 1.0)

    def success(self, source: str) -> float:
        """α of ``source``."""
        return self.alpha.get(source, 1.0)
