"""Where each output channel of a CNN's convolutions is stored: RobustDiCE's placements.

A method places, per convolution, its channels ranked by importance (the filter's L1
norm, :func:`models.channels.convs`) on ``D`` devices:

* ``plain``: plain partitioning by importance tiers: the ranked channels cut into ``D``
  consecutive tiers, device k holding tier k, each channel stored once (the paper's
  figure (a): losing the first device loses the most important channels);
* ``full``: full neuron replication: every channel on every device (the robustness
  upper bound, at ``D`` times the memory);
* ``robustdice``: selective replication: the top ``ρ`` share of each layer's channels
  replicated on ``copies`` devices (all of them unless given), the rest stored once,
  dealt round-robin by rank from device 0 so that each device holds a slice of every
  importance tier (the grouping rule of the paper's figure (c)); ``ρ = 0`` stores each
  channel once, ``ρ = 1`` (with all copies) is full replication;
* ``balanced``: the same replication, but each copy goes to the device with the fewest
  FLOPs so far (over the whole network; ties to the one with the fewest channels of the
  layer), so the devices' work is equal within a channel.

The paper's figure is the reference for the rules; the ratio ``ρ``, its rounding
(``round(ρ · C)`` channels per layer) and the copy rule are our reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from models import ModelError
from models.channels import Conv, Placement


class Method(Protocol):
    """A placement rule."""

    @property
    def name(self) -> str: ...

    @property
    def summary(self) -> str: ...

    def place(self, table: Sequence[Conv], devices: Sequence[str], rho: float,
              copies: int | None) -> Placement: ...  # fmt: skip


def replicated(conv: Conv, rho: float) -> int:
    """How many of ``conv``'s channels the ratio ``rho`` replicates."""
    return min(conv.channels, round(rho * conv.channels))


def _placement(devices: Sequence[str], sets: dict[str, list[set[int]]]) -> Placement:
    held = {n: tuple(tuple(sorted(s)) for s in per) for n, per in sets.items()}
    return Placement(tuple(devices), held)


@dataclass(frozen=True, slots=True)
class Plain:
    name: str = "plain"
    summary: str = "importance tiers, one per device, each channel once"

    def place(self, table: Sequence[Conv], devices: Sequence[str], rho: float,
              copies: int | None) -> Placement:  # fmt: skip
        d = len(devices)
        sets: dict[str, list[set[int]]] = {}
        for conv in table:
            ranked = conv.ranked()
            cuts = [round(k * conv.channels / d) for k in range(d + 1)]
            sets[conv.name] = [set(ranked[cuts[k] : cuts[k + 1]]) for k in range(d)]
        return _placement(devices, sets)


@dataclass(frozen=True, slots=True)
class Full:
    name: str = "full"
    summary: str = "every channel on every device"

    def place(self, table: Sequence[Conv], devices: Sequence[str], rho: float,
              copies: int | None) -> Placement:  # fmt: skip
        sets = {c.name: [set(range(c.channels)) for _ in devices] for c in table}
        return _placement(devices, sets)


@dataclass(frozen=True, slots=True)
class Selective:
    name: str = "robustdice"
    summary: str = "top rho share on `copies` devices, the rest once, tiers spread"

    def place(self, table: Sequence[Conv], devices: Sequence[str], rho: float,
              copies: int | None) -> Placement:  # fmt: skip
        d = len(devices)
        k = d if copies is None else copies
        sets: dict[str, list[set[int]]] = {}
        for conv in table:
            per: list[set[int]] = [set() for _ in devices]
            top = replicated(conv, rho)
            for rank, c in enumerate(conv.ranked()):
                n = k if rank < top else 1
                for j in range(n):
                    per[(rank + j) % d].add(c)
            sets[conv.name] = per
        return _placement(devices, sets)


@dataclass(frozen=True, slots=True)
class Balanced:
    name: str = "balanced"
    summary: str = "as robustdice, each copy on the device with the fewest FLOPs"

    def place(self, table: Sequence[Conv], devices: Sequence[str], rho: float,
              copies: int | None) -> Placement:  # fmt: skip
        d = len(devices)
        k = d if copies is None else copies
        load = [0.0] * d
        sets: dict[str, list[set[int]]] = {}
        for conv in table:
            per: list[set[int]] = [set() for _ in devices]
            top = replicated(conv, rho)
            for rank, c in enumerate(conv.ranked()):
                for _ in range(k if rank < top else 1):
                    free = [i for i in range(d) if c not in per[i]]
                    i = min(free, key=lambda i: (load[i], len(per[i]), i))
                    per[i].add(c)
                    load[i] += conv.flops
            sets[conv.name] = per
        return _placement(devices, sets)


METHODS: dict[str, Method] = {m.name: m for m in (Plain(), Full(), Selective(), Balanced())}
"""The placement methods by name."""


def place(table: Sequence[Conv], devices: Sequence[str], method: str, rho: float = 0.0,
          copies: int | None = None) -> Placement:  # fmt: skip
    """The placement of ``table``'s channels on ``devices`` by ``method``."""
    if method not in METHODS:
        raise ModelError(f"method: unknown {method!r} (known: {', '.join(METHODS)})")
    if not 0 <= rho <= 1:
        raise ModelError(f"rho: must be within 0 and 1 (got {rho})")
    if copies is not None and not 1 <= copies <= len(devices):
        raise ModelError(f"copies: must be within 1 and {len(devices)} devices (got {copies})")
    return METHODS[method].place(table, devices, rho, copies)


@dataclass(frozen=True, slots=True)
class Share:
    """One device's part of a placement: channels, weight bytes and FLOPs per inference."""

    device: str
    channels: int
    memory: float
    flops: float


def shares(table: Sequence[Conv], placement: Placement) -> list[Share]:
    """Per device, what its channels cost (convolutions only)."""
    out = []
    for d, name in enumerate(placement.devices):
        held = [(c, len(placement.held[c.name][d])) for c in table]
        out.append(
            Share(
                device=name,
                channels=sum(n for _, n in held),
                memory=sum(c.weight_bytes * n for c, n in held),
                flops=sum(c.flops * n for c, n in held),
            )
        )
    return out
