"""Can a source be served with some components down? A question about the scenario alone.

A source can be served when its device is up and every stage of its pipeline
has at least one up candidate device (the stage's device, its standby or
replicas, the source itself under ``local_fallback``, any device under
``repartition``) reachable from the source over up links. Links are
undirected, so every candidate reachable from the source is reachable from
every other.

Used for service availability during a run and for the single-failure
resilience check (``edgesim validate --resilience``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import networkx as nx

from sim.spec import Scenario, SourceSpec
from sim.strategies import candidates


def servable(
    s: Scenario, source: SourceSpec, down_devices: Collection[str], down_links: Collection[str]
) -> bool:
    """Whether ``source`` can be served while the named devices and links (``a-b``) are down."""
    if source.at in down_devices:
        return False
    graph = nx.Graph()
    graph.add_nodes_from(d for d in s.devices if d not in down_devices)
    graph.add_edges_from(
        link.ends
        for link in s.links
        if link.name not in down_links and not set(link.ends) & set(down_devices)
    )
    reach = nx.node_connected_component(graph, source.at)
    return all(
        any(name in reach for name in candidates(s, source.pipeline, k, source.at))
        for k in range(len(s.pipelines[source.pipeline].stages))
    )


@dataclass(frozen=True, slots=True)
class Weakness:
    """A single component whose failure leaves some sources unservable."""

    component: str
    kind: str  # "device" or "link"
    sources: tuple[str, ...]


def single_points_of_failure(s: Scenario) -> list[Weakness]:
    """Every device and link whose failure alone stops some source from being served.

    A source's own device is left out: no policy can serve a camera that is off.
    """
    out = []
    for name in s.devices:
        hit = tuple(
            src.name for src in s.workload if src.at != name and not servable(s, src, {name}, ())
        )
        if hit:
            out.append(Weakness(name, "device", hit))
    for link in s.links:
        hit = tuple(src.name for src in s.workload if not servable(s, src, (), {link.name}))
        if hit:
            out.append(Weakness(link.name, "link", hit))
    return out
