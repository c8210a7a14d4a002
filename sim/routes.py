"""Routing: which links a transfer between two devices crosses.

Devices and links form an undirected graph. A transfer between two devices
with no direct link follows the path of lowest total latency (ties broken by
fewest hops), hop by hop, store-and-forward.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import networkx as nx

from sim.spec import LinkSpec


def topology(devices: Sequence[str], links: Sequence[LinkSpec]) -> nx.Graph:
    """The device graph; each edge carries its link's index and latency."""
    graph = nx.Graph()
    graph.add_nodes_from(devices)
    for i, link in enumerate(links):
        a, b = link.ends
        graph.add_edge(a, b, index=i, weight=(link.latency, 1))
    return graph


def route(graph: nx.Graph, src: str, dst: str) -> list[tuple[int, str, str]]:
    """The hops ``(link index, from, to)`` from ``src`` to ``dst``; empty if they are one device.

    Raises ``networkx.NetworkXNoPath`` when no path exists.
    """
    if src == dst:
        return []
    path = nx.shortest_path(graph, src, dst, weight=_weight)
    return [(graph.edges[a, b]["index"], a, b) for a, b in itertools.pairwise(path)]


def _weight(a: str, b: str, data: dict[str, tuple[float, int]]) -> float:
    latency, hops = data["weight"]
    return latency + hops * 1e-12
