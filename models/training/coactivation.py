"""NoNN's knowledge partition: the teacher's last filters split into K disjoint parts.

NoNN (Bhardwaj et al. 2019) splits the teacher's final convolutional filters by how they
fire together over the training data: a *filter co-activation graph* (one node per filter,
edges weighted by how strongly two filters are active on the same images) cut into
communities, each community then learnt by one student. Here:

- each filter's activation on an image is its global average over the map (what the
  classifier sees), ``a[n, f]``;
- the edge weight of filters i and j is the cosine of their activation vectors over the
  training images, ``Σ_n a_ni a_nj / (‖a_i‖ ‖a_j‖)`` (our reading; NoNN weights by
  co-activation of important filters);
- communities by networkx's Louvain method (seeded), which picks their number itself;
- balanced to K parts of ⌈F/K⌉ or ⌊F/K⌋ filters (so students of one width are equally
  loaded): communities, largest first, go whole into the part with the most room, and a
  community larger than that room is split, its most connected filters first.

Only numpy and networkx: no training framework.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from models import ModelError


@dataclass(frozen=True, slots=True)
class Partition:
    """K disjoint parts of the filters (each sorted), and the Louvain communities behind
    them with their modularity."""

    parts: tuple[tuple[int, ...], ...]
    communities: tuple[tuple[int, ...], ...]
    modularity: float

    def __repr__(self) -> str:
        sizes = "/".join(str(len(p)) for p in self.parts)
        return (
            f"Partition({len(self.parts)} parts of {sizes} filters from "
            f"{len(self.communities)} communities, modularity {self.modularity:.3f})"
        )


def coactivation(activations: np.ndarray) -> np.ndarray:
    """Cosine similarity of the filters' activations (N images × F filters) → F × F."""
    norms = np.linalg.norm(activations, axis=0)
    norms[norms == 0] = 1.0
    unit = activations / norms
    weights: np.ndarray = unit.T @ unit
    np.fill_diagonal(weights, 0.0)
    return weights


def partition(activations: np.ndarray, k: int, seed: int) -> Partition:
    """The balanced NoNN partition of the filters into ``k`` parts."""
    filters = activations.shape[1]
    if not 1 <= k <= filters:
        raise ModelError(f"--students: must be within 1-{filters}, the teacher's filters (got {k})")
    weights = coactivation(activations)
    graph = nx.from_numpy_array(weights)
    found = nx.community.louvain_communities(graph, weight="weight", seed=seed)
    communities = sorted((tuple(sorted(c)) for c in found), key=lambda c: (-len(c), c))
    modularity = float(nx.community.modularity(graph, found, weight="weight"))
    return Partition(balance(communities, weights, k), tuple(communities), modularity)


def balance(
    communities: list[tuple[int, ...]], weights: np.ndarray, k: int
) -> tuple[tuple[int, ...], ...]:
    """Communities packed into ``k`` parts of near-equal size (see the module notes)."""
    total = sum(len(c) for c in communities)
    room = [total // k + (1 if i < total % k else 0) for i in range(k)]
    parts: list[list[int]] = [[] for _ in range(k)]
    for community in communities:
        members = list(community)
        inner = weights[np.ix_(members, members)].sum(axis=1)
        queue = [members[i] for i in np.argsort(-inner, kind="stable")]
        while queue:
            target = max(range(k), key=lambda i: (room[i], -i))
            take = min(room[target], len(queue))
            parts[target].extend(queue[:take])
            room[target] -= take
            queue = queue[take:]
    return tuple(tuple(sorted(p)) for p in parts)
