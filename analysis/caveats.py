"""Warnings about a summary's figures: when a number should not be read at face value.

Each :class:`Caveat` names what it is about (``code``), the component, the
figure, its value and the limit it crossed. They are read from the combined
summary alone (a tree of cells, see :mod:`analysis.summary`):

* ``unstable``: a station's offered load ρ ≥ 1 (needs the scenario): its queue
  grows without bound, so latency has no steady-state value and is withheld;
* ``overloaded``: the same at a device with a queue limit: stable, but it drops the
  excess, so the dropped count is the figure to read;
* ``high_utilisation``: a device or medium busy ≥ 90 % of the window (measured):
  waiting times are very sensitive to the load, and slow to settle;
* ``in_flight_at_horizon``: more than 1 % of a source's arrivals were still in
  flight at the horizon: its figures depend on where the run stopped;
* ``wide_interval``: a headline figure's 95 % half-width exceeds 10 % of its
  mean: more replications, or a longer horizon, would pin it down.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

UTILISATION_LIMIT = 0.9
IN_FLIGHT_LIMIT = 0.01
HALF_WIDTH_LIMIT = 0.1
HEADLINE = ("throughput", "success_ratio", "deadline_miss", "energy_per_inference")
HEADLINE_LATENCY = ("mean", "p50", "p95", "p99")


@dataclass(frozen=True, slots=True)
class Caveat:
    """One warning: what, about which component and figure, its value and the limit."""

    code: str
    component: str | None
    figure: str
    value: float
    limit: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def warnings(tree: dict[str, Any]) -> list[Caveat]:
    """Every warning the summary ``tree`` calls for, most serious first."""
    unstable = list(_unstable(tree))
    overloaded = {c.component for c in unstable}
    return [
        *unstable,
        *(c for c in _busy(tree) if c.component not in overloaded),
        *_in_flight(tree),
        *_wide(tree),
    ]


def _unstable(tree: dict[str, Any]) -> Iterator[Caveat]:
    load = tree.get("load")
    if load is None:
        return
    for station, rho in sorted(load["offered"].items(), key=lambda kv: -kv[1]):
        if rho < 1:
            continue
        if station in load["bounded"]:
            yield Caveat(
                "overloaded", station, "offered load", rho, 1.0,
                f"overloaded: {_station(tree, station)} is offered {rho:.3g} times its "
                "capacity; its queue limit turns the excess away (see the dropped count)",
            )  # fmt: skip
            continue
        role = "the bottleneck" if station == load["bottleneck"] else "also overloaded"
        yield Caveat(
            "unstable", station, "offered load", rho, 1.0,
            f"unstable: {_station(tree, station)} is offered {rho:.3g} times its capacity "
            f"({role}); its queue grows without bound, so latency has no steady-state "
            "value and is not shown (the values measured up to the horizon are under "
            "'transient' in summary.json)",
        )  # fmt: skip


def _busy(tree: dict[str, Any]) -> Iterator[Caveat]:
    stations = [(n, d["utilisation"]) for n, d in tree["devices"].items()]
    stations += [(n, m["utilisation"]) for n, m in tree["media"].items()]
    for name, cell in stations:
        u = cell["mean"]
        if u is not None and u >= UTILISATION_LIMIT:
            yield Caveat(
                "high_utilisation", name, "utilisation", u, UTILISATION_LIMIT,
                f"{_station(tree, name)} is busy {u:.1%} of the time (≥ 90 %): waiting "
                "times are very sensitive to load and slow to settle",
            )  # fmt: skip


def _in_flight(tree: dict[str, Any]) -> Iterator[Caveat]:
    for name, src in tree["sources"].items():
        arrived, left = src["arrived"]["mean"], src["in_flight"]["mean"]
        if not arrived or left is None:
            continue
        share = left / arrived
        if share > IN_FLIGHT_LIMIT:
            yield Caveat(
                "in_flight_at_horizon", name, "requests in flight", share, IN_FLIGHT_LIMIT,
                f"source {name}: {share:.1%} of its arrivals were still in flight at the "
                "horizon (> 1 %); they count against success, except those still inside "
                "their deadline",
            )  # fmt: skip


def _wide(tree: dict[str, Any]) -> Iterator[Caveat]:
    cells = [(key, tree[key]) for key in HEADLINE]
    cells += [(f"latency {key}", tree["latency"][key]) for key in HEADLINE_LATENCY]
    for figure, cell in cells:
        mean, ci = cell["mean"], cell["ci95"]
        if not mean or ci is None:  # no interval, or no relative scale at a mean of 0
            continue
        relative = (ci[1] - ci[0]) / 2 / abs(mean)
        if relative > HALF_WIDTH_LIMIT:
            yield Caveat(
                "wide_interval", None, figure.replace("_", " "), relative, HALF_WIDTH_LIMIT,
                f"{figure.replace('_', ' ')}: the 95 % interval's half-width is "
                f"{relative:.0%} of the mean (> 10 %); run more replications or a "
                "longer horizon",
            )  # fmt: skip


def _station(tree: dict[str, Any], name: str) -> str:
    medium = tree["media"].get(name)
    if medium is None:
        return f"device {name}" if name in tree["devices"] else name
    links = medium["links"]
    return f"link {name}" if links == [name] else f"medium {name} ({', '.join(links)})"
