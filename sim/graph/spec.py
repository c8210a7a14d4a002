"""The ``graphs:`` key of a scenario: dataflow graphs of actors, and their sources.

A graph is written once for many sources: its sources are listed with it, one
``for_each`` entry standing for one source per device, and an actor bound to
``$source`` runs on each source's own device. A graph may instead name a
pipeline (``pipeline: NAME``): it is then that pipeline's stages as a chain of
actors, run by the graph engine. Checks across fields are in :mod:`sim.graph.checks`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, StringConstraints, model_validator

from sim.distributions import Distribution
from sim.graph.systems import SystemSpec
from sim.quantities import Bytes, Duration
from sim.spec import Arrivals, Name, Probability, Spec

SOURCE = "$source"
"""Binds an actor to the device of the source whose request it serves."""
NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*"
Placement = Annotated[str, StringConstraints(pattern=r"^(\$source|[A-Za-z_][A-Za-z0-9_.\-]*)$")]


class KOfN(Spec):
    """Fire once ``k`` inputs have arrived, or at ``timeout`` (from the first) with what has.

    ``detect`` says how the join learns that an input will not come: ``loss`` at once
    (it fires as soon as nothing more can arrive), or ``timeout`` only when its timeout
    runs out, as a gather that cannot tell a crashed producer from a slow one.
    """

    kind: Literal["k_of_n"]
    k: PositiveInt
    timeout: Duration | None = Field(default=None, gt=0)
    detect: Literal["loss", "timeout"] = Field(
        default="loss", description="a lost input is known at once, or only at the timeout"
    )

    @model_validator(mode="after")
    def _timed(self) -> KOfN:
        if self.detect == "timeout" and self.timeout is None:
            raise ValueError("detect: timeout needs a timeout")
        return self


Join = Literal["all", "first"] | KOfN


class ModelExit(Spec):
    """Leave here when a trained model's ``head`` is where the request's test sample exits
    at ``threshold`` (its max softmax; models.exits), not by a probability."""

    model: Name
    head: str = Field(min_length=1, description="an early head of the model")
    threshold: float = Field(ge=0, le=1, description="confidence a head needs to answer")


class ActorSpec(Spec):
    """One actor: where it runs, what it does, what it waits for."""

    on: Placement = Field(description="a device, or $source: the device of the request's source")
    after: tuple[Name, ...] = Field(
        default=(), description="the actors whose output it takes; none: the source's input"
    )
    layers: tuple[str, str] | None = Field(
        default=None, description="[first, last] layer names of the model it runs"
    )
    part: tuple[str, str] | None = Field(
        default=None,
        description="[first, last] layers of a DAG model as a cut-set part: it takes the "
        "tensors its layers need from its after actors and sends each successor part its own",
    )
    service: Distribution | None = Field(
        default=None, description="service time; replaces the cost model"
    )
    sends: dict[Name, Annotated[Bytes, Field(ge=0)]] | None = Field(
        default=None,
        description="bytes to each successor named (a part's: filled in by the loader); "
        "others get output_bytes",
    )
    output_bytes: Bytes | None = Field(
        default=None, ge=0, description="bytes it sends on; default its last layer's output, or 0"
    )
    weight_bytes: Bytes | None = Field(
        default=None, ge=0, description="memory it holds; default its layers' weights, or 0"
    )
    fifo: PositiveInt | None = Field(
        default=None, description="tokens each input edge holds; a full one blocks its producer"
    )
    join: Join = Field(default="all", description="with several inputs: all, first or k_of_n")
    exit: Probability | ModelExit | None = Field(
        default=None,
        description="probability that a request leaves the graph here, or a model's exit head",
    )
    loses: tuple[str, ...] = Field(
        default=(),
        description="LAYER:CHANNELS of the graph's trained model zeroed when its output is missing",
    )


class GraphSourceSpec(Spec):
    """A source of requests into a graph; ``for_each`` makes one per device listed.

    With ``for_each``, ``$source`` in the name is replaced by each device's name.
    """

    name: str = Field(min_length=1, description="$source is replaced by each for_each device")
    at: Name | None = None
    for_each: tuple[Name, ...] | None = Field(default=None, min_length=1)
    arrivals: Arrivals
    priority: int = Field(default=0, description="higher is served first")
    deadline: Duration | None = Field(default=None, gt=0)
    count: PositiveInt | None = Field(default=None, description="stop after this many")

    @model_validator(mode="after")
    def _one_place(self) -> GraphSourceSpec:
        if (self.at is None) == (self.for_each is None):
            raise ValueError("give exactly one of at or for_each")
        if self.for_each is not None and SOURCE not in self.name:
            raise ValueError(f"a for_each source's name must contain {SOURCE}")
        if not re.fullmatch(NAME, self.name.replace(SOURCE, "x")):
            where = " (with for_each)" if self.for_each is not None else " (without for_each)"
            raise ValueError(f"{self.name!r} is no source name{where}: letters, digits, _ . -")
        return self


class AccuracySpec(Spec):
    """The trained model whose test samples the requests carry (sim.graph.accuracy)."""

    model: Name = Field(description="a trained model, e.g. resnet8-mnist5k-seed0-e6")


class GraphSpec(Spec):
    """A dataflow graph of ``actors`` (or a ``pipeline`` as a chain, or the actors a
    ``system`` builds) and its sources."""

    actors: dict[Name, ActorSpec] | None = Field(default=None, min_length=1)
    pipeline: Name | None = Field(default=None, description="a pipeline, run as a chain graph")
    system: SystemSpec | None = Field(
        default=None, description="a system that builds the actors (sim.graph.systems)"
    )
    sources: tuple[GraphSourceSpec, ...] = Field(min_length=1)
    input_bytes: Bytes | None = Field(
        default=None, ge=0, description="what a source sends; default the model's input, or 0"
    )
    result_bytes: Bytes | None = Field(
        default=None,
        ge=0,
        description="what a sink or exit sends back; default 1000 B, or the pipeline's",
    )
    accuracy: AccuracySpec | None = Field(
        default=None, description="score each request by the variant of the model that served it"
    )

    @model_validator(mode="after")
    def _one_body(self) -> GraphSpec:
        bodies = [b for b in (self.actors, self.pipeline, self.system) if b is not None]
        if len(bodies) != 1:
            raise ValueError("give exactly one of actors, pipeline or system")
        return self
