"""Figures of dataflow graphs: where each actor's tokens spend their time.

From ``summary.json``'s ``graphs`` section (per graph and actor: firings, mean wait
for inputs or a device, mean service), one stacked bar per actor, so the actor that
holds a graph back stands out; drawn only for runs with graphs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from analysis.reporting.figure import Figure, canvas
from analysis.reporting.resources import _mean
from analysis.reporting.results import Results

MS = 1e3


def actors(results: Results) -> Iterator[Figure]:
    """Mean wait and service of each actor of each graph."""
    graphs = (results.summary or {}).get("graphs")
    if not isinstance(graphs, dict):
        return
    for name, graph in graphs.items():
        found = (graph or {}).get("actors") or {}
        if not found:
            continue
        names = list(found)
        wait = np.nan_to_num([_mean(found[a].get("wait")) * MS for a in names])
        service = np.nan_to_num([_mean(found[a].get("service")) * MS for a in names])
        fig, (ax,) = canvas(height=0.9 + 0.3 * len(names))
        ax.barh(names, wait, color="C7", label="waiting")
        ax.barh(names, service, left=wait, color="C0", label="in service")
        for i, a in enumerate(names):
            ax.annotate(f" {_mean(found[a].get('fired')):.0f} firings",
                        (wait[i] + service[i], i), va="center", fontsize=7)  # fmt: skip
        ax.invert_yaxis()
        ax.set(xlabel="time per firing (ms)")
        fig.legend(loc="outside upper center", ncols=2)
        yield Figure(
            f"graph_{name}", f"Graph {name}: actors",
            f"Each actor of graph {name}: mean time a firing waited (for its inputs or its "
            "device) and was in service, mean over replications; firings counted beside.",
            fig,
        )  # fmt: skip
