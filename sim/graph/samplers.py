"""What an actor's firing draws: its service time on a device, and whether to exit.

A service time is the actor's ``service`` distribution (stream
``stage:KEY:service``, plus ``:DEVICE`` on another device than its own), or the
cost of its layers on the device (measured profile, or the roofline) times the
device's noise (stream ``device:NAME:noise``): a ``pipelines:`` source's rules, so a
chain graph draws what its pipeline draws. An exit draws uniforms from
``stage:KEY:exit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sim import costs
from sim.distributions import Normal
from sim.graph.expand import Actor

if TYPE_CHECKING:
    from sim.spec import Scenario
    from sim.streams import Streams


class Samplers:
    """A world's service and exit samplers, one per (actor, device) and per actor."""

    def __init__(self, scenario: Scenario, streams: Streams) -> None:
        self.scenario = scenario
        self.streams = streams
        self._services: dict[tuple[str, str], Callable[[], float]] = {}
        self._exits: dict[str, Callable[[], float]] = {}

    def service(self, actor: Actor, device: str) -> Callable[[], float]:
        """Draws of ``actor``'s service time on ``device``."""
        key = (actor.key, device)
        if key not in self._services:
            self._services[key] = self._sampler(actor, device)
        return self._services[key]

    def _sampler(self, actor: Actor, device: str) -> Callable[[], float]:
        streams = self.streams
        if actor.service is not None:
            own = "" if device == actor.on else f":{device}"
            sampler = actor.service.sampler(streams.rng(f"stage:{actor.key}:service{own}"))
            if isinstance(actor.service, Normal):
                return lambda: max(0.0, sampler())
            return sampler
        cost = span_cost(self.scenario, actor.span, device)
        spec = self.scenario.devices[device]
        if spec.service_noise is None:
            return lambda: cost
        noise = spec.service_noise.sampler(streams.rng(f"device:{device}:noise"))
        return lambda: max(0.0, cost * noise())

    def exit(self, actor: Actor) -> Callable[[], float]:
        """Uniform draws on [0, 1): ``actor`` lets the request leave when one is below its
        exit probability."""
        if actor.key not in self._exits:
            rng = self.streams.rng(f"stage:{actor.key}:exit")
            pending: list[float] = []

            def draw() -> float:
                if not pending:
                    pending.extend(rng.random(512)[::-1].tolist())
                return pending.pop()

            self._exits[actor.key] = draw
        return self._exits[actor.key]

    def __repr__(self) -> str:
        return f"Samplers(services={len(self._services)}, exits={len(self._exits)})"


def span_cost(s: Scenario, span: range, device: str) -> float:
    """Seconds to run the model's layers ``span`` on ``device`` (:func:`sim.costs.span_cost`),
    for a device the loader has checked can be costed."""
    seconds = costs.span_cost(s, span, device)
    assert seconds is not None, "checked by the loader"
    return seconds
