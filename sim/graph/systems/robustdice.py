"""RobustDiCE as a graph: a trained CNN's convolutions split by channels over devices.

``system: {kind: robustdice, model, devices, method, rho, ...}`` places the output
channels of every convolution of a trained model on the devices
(:mod:`models.replication`) and builds, per convolution in graph order and per device
holding some of its channels, an actor ``CONV.DEVICE`` that computes that slice:

* its service is the roofline cost (:mod:`models.cost`) of its channels' share of the
  layer on its device, from the layer's whole input (``n`` of ``C`` channels: ``n/C``
  of the FLOPs, weights and output bytes), or that share of the layer's measured time
  with a device profile; a deterministic time (the device's ``service_noise`` is not
  applied), its weights are its memory, its output (the slice) is what it sends;
* it takes the slices of the previous convolution from every device holding them
  (an all-gather: each slice crosses the links between the two devices; a channel
  every device holds is not sent, except to the classifier), with a
  ``k_of_n`` join that fires when all have come, or ``timeout`` after the first with
  those that came (at once when the rest can no longer come); the first convolution's
  actors take the source's input;
* a ``classifier`` actor on the source's device (or the one named) gathers the last
  convolution's slices the same way and runs the gemm layers.

A device down or failing under a token loses its slices, which are then missing at
the next gather; a channel is lost for a request only when every device holding it
missed that gather (:meth:`models.channels.Placement.damage`), so a replica that is
live supplies the channel. The request is scored by the model with the lost channels
zeroed (:mod:`sim.graph.accuracy`). Elementwise layers (ReLU, residual adds, pooling)
are not charged. docs/robustdice.md describes the study.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import Field, PositiveInt

from sim.quantities import Duration
from sim.spec import Name, Spec

if TYPE_CHECKING:
    from models.accuracy import Damage
    from models.channels import Conv, Placement
    from sim.graph.expand import Graph
    from sim.graph.spec import ActorSpec
    from sim.problems import Problem
    from sim.spec import DeviceSpec, Scenario

CLASSIFIER = "classifier"
"""The actor that gathers the last convolution and runs the classifier."""


class RobustDiceSpec(Spec):
    """RobustDiCE's parameters: the model, the devices, the placement and the gather."""

    kind: Literal["robustdice"]
    model: Name = Field(description="a trained model, e.g. resnet8-mnist5k-seed0-e6")
    devices: tuple[Name, ...] = Field(min_length=1, description="the devices sharing channels")
    method: str = Field(default="robustdice", description="plain, full, robustdice or balanced")
    rho: float = Field(default=0.0, ge=0, le=1, description="share of each layer replicated")
    copies: PositiveInt | None = Field(
        default=None, description="devices holding a replicated channel; default all"
    )
    timeout: Duration = Field(default=0.1, gt=0, description="a gather's wait after its first")
    detect: Literal["loss", "timeout"] = Field(
        default="timeout",
        description="a gather learns of a failed device's slice only at its timeout, or at once",
    )
    classifier: Name | None = Field(
        default=None, description="device running the classifier; default the source's"
    )


@functools.cache
def layout(
    model: str, devices: tuple[str, ...], method: str, rho: float, copies: int | None
) -> tuple[list[Conv], Placement, tuple[float, float]]:
    """The model's channel table, the placement and the classifier's FLOPs and bytes."""
    import onnx

    from models.channels import classifier, convs
    from models.replication import place
    from sim.graph.accuracy_checks import trained

    net = onnx.load(trained(model).onnx_path)
    table = convs(net)
    return table, place(table, devices, method, rho, copies), classifier(net)


def _layout(spec: RobustDiceSpec) -> tuple[list[Conv], Placement, tuple[float, float]]:
    return layout(spec.model, spec.devices, spec.method, spec.rho, spec.copies)


def name(conv: str, device: str) -> str:
    """The actor computing ``device``'s slice of ``conv``."""
    return f"{conv}.{device}"


def slice_time(device: DeviceSpec, conv: Conv, n: int) -> float:
    """Seconds ``device`` takes for ``n`` of ``conv``'s channels."""
    from models.cost import Layer

    if device.profile is not None:
        whole = device.measured([conv.name])
        assert whole is not None, "a profile gives a time"
        return whole * n / conv.channels
    compute = device.compute()
    assert compute is not None, "checked by problems()"
    layer = Layer(conv.name, "conv", n * conv.flops, n * conv.weight_bytes, n * conv.output_bytes)
    return compute.layer_time(layer, conv.input_bytes)


class RobustDice:
    """The ``robustdice`` system (see the module docstring)."""

    spec = RobustDiceSpec

    def problems(self, s: Scenario, graph: str, spec: RobustDiceSpec) -> list[Problem]:
        from models import ModelError
        from models.replication import METHODS
        from sim.problems import Problem

        where = f"graphs.{graph}.system"
        out = []
        for i, d in enumerate(spec.devices):
            if d not in s.devices:
                out.append(Problem(f"{where}.devices[{i}]", f"unknown device {d!r} "
                                   f"(known: {', '.join(s.devices)})"))  # fmt: skip
            elif s.devices[d].profile is None and s.devices[d].compute() is None:
                out.append(Problem(f"{where}.devices[{i}]", f"{d} has no gflops and bandwidth"))
        if len(set(spec.devices)) < len(spec.devices):
            out.append(Problem(f"{where}.devices", "a device is listed twice", list(spec.devices)))
        if spec.method not in METHODS:
            known = ", ".join(METHODS)
            out.append(Problem(f"{where}.method", f"unknown method (known: {known})", spec.method))
        if spec.copies is not None and spec.copies > len(spec.devices):
            message = f"at most the {len(spec.devices)} devices"
            out.append(Problem(f"{where}.copies", message, spec.copies))
        where_cls = self._classifier(s, graph)
        if spec.classifier is not None and spec.classifier not in s.devices:
            out.append(Problem(f"{where}.classifier", "unknown device", spec.classifier))
        elif spec.classifier is None and where_cls is None:
            message = "give a device: the graph's first source has no single device"
            out.append(Problem(f"{where}.classifier", message))
        scored = s.graphs[graph].accuracy
        if scored is not None and scored.model != spec.model:
            message = f"must be the system's model {spec.model!r}"
            out.append(Problem(f"graphs.{graph}.accuracy.model", message, scored.model))
        if out:
            return out
        try:
            _layout(spec)
        except ModelError as exc:
            out.append(Problem(f"{where}.model", str(exc)))
        return out

    @staticmethod
    def _classifier(s: Scenario, graph: str) -> str | None:
        first = s.graphs[graph].sources[0]
        return first.at

    def actors(self, s: Scenario, graph: str, spec: RobustDiceSpec) -> dict[str, ActorSpec]:
        from models.cost import Layer
        from sim.distributions import Deterministic
        from sim.graph.spec import ActorSpec, KOfN

        table, placement, (flops, size) = _layout(spec)
        out: dict[str, ActorSpec] = {}
        before: list[str] = []

        def join(n: int) -> KOfN | Literal["all"]:
            if n <= 1:
                return "all"
            return KOfN(kind="k_of_n", k=n, timeout=spec.timeout, detect=spec.detect)

        for conv in table:
            made = []
            everywhere = set.intersection(*(set(h) for h in placement.held[conv.name]))
            for d, device in enumerate(spec.devices):
                n = len(placement.held[conv.name][d])
                if not n:
                    continue
                made.append(name(conv.name, device))
                cost = slice_time(s.devices[device], conv, n)
                sent = n if conv is table[-1] else n - len(everywhere)
                out[made[-1]] = ActorSpec(
                    on=device,
                    after=tuple(before),
                    service=Deterministic(kind="deterministic", value=cost),
                    output_bytes=sent * conv.output_bytes,
                    weight_bytes=n * conv.weight_bytes,
                    join=join(len(before)),
                )
            before = made
        at = spec.classifier or self._classifier(s, graph)
        assert at is not None, "checked by problems()"
        compute = s.devices[at].compute()
        gemm = Layer(CLASSIFIER, "gemm", flops, size, 40.0)
        cost = compute.layer_time(gemm, table[-1].output_bytes) if compute else 0.0
        out[CLASSIFIER] = ActorSpec(
            on=at,
            after=tuple(before),
            service=Deterministic(kind="deterministic", value=cost),
            weight_bytes=size,
            join=join(len(before)),
        )
        return out

    def scoring(self, spec: RobustDiceSpec) -> str:
        return spec.model

    def input_bytes(self, spec: RobustDiceSpec) -> float | None:
        return None

    def damage(self, g: Graph, spec: RobustDiceSpec) -> Callable[[int], Damage]:
        table, placement, _ = _layout(spec)
        bits = {
            (conv.name, d): 1 << g.actors[name(conv.name, device)].index
            for conv in table
            for d, device in enumerate(spec.devices)
            if name(conv.name, device) in g.actors
        }

        def damage(gone: int) -> Damage:
            def missing(layer: str) -> frozenset[int]:
                return frozenset(d for (c, d), bit in bits.items() if c == layer and gone & bit)

            return placement.damage(missing)

        return damage

    def plan(self, s: Scenario, graph: str, spec: RobustDiceSpec) -> list[str]:
        from models.accuracy import Damage
        from models.replication import shares

        table, placement, _ = _layout(spec)
        head = f"{graph}: {spec.model} on {len(spec.devices)} devices, method {spec.method}"
        lines = [f"{head}, rho {spec.rho:g}, copies {spec.copies or len(spec.devices)}"]
        for d, share in enumerate(shares(table, placement)):
            lines.append(f"  {share.device}: {share.channels} channels, "
                         f"{share.memory / 1e3:.1f} kB, {share.flops / 1e6:.2f} MFLOP")  # fmt: skip
            for conv in table:
                held = [f"{conv.name}:{c}" for c in placement.held[conv.name][d]]
                text = str(Damage.parse(held)).removeprefix(f"{conv.name}:") if held else "-"
                lines.append(f"    {conv.name} ({len(held)}/{conv.channels}): {text}")
        return lines

    def __repr__(self) -> str:
        return "RobustDice()"


ROBUSTDICE = RobustDice()
