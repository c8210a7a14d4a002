"""``edgesim plan FILE --graph G``: the graph's placements, then the best one's figures per
source and per priority class (:mod:`analysis.graph_placement`)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from analysis.graph_placement import Placement
from analysis.report import _fmt


def show(placements: Sequence[Placement], objective: str, title: str, method: str) -> None:
    """Candidates best first (marked *), the best's per-source and per-class figures."""
    console = Console()
    t = Table(title=f"{title}: placements (best by {objective} marked *)", title_justify="left",
              caption=f"search: {method}", caption_justify="left")  # fmt: skip
    for col in ("", "actor@place", "unloaded ms", "latency ms", "p95 ms", "endpoint J", "kB sent"):
        left = col in ("", "actor@place")
        t.add_column(col, justify="left" if left else "right", no_wrap=col == "actor@place")
    for i, c in enumerate(placements):
        figures = (
            (c.unloaded, 1e3),
            (c.latency, 1e3),
            (c.p95, 1e3),
            (c.energy, 1),
            (c.bytes_sent, 1e-3),
        )
        t.add_row("*" if i == 0 else "", c.label, *(_fmt(v, "", k) for v, k in figures))
    if console.width < 140:
        console = Console(width=140)
    console.print(t)
    if not placements:
        return
    best = placements[0]
    s = Table(title="the best, per source", title_justify="left")
    for col in ("source", "latency ms", "p95 ms", "endpoint J", "kB sent"):
        s.add_column(col, justify="left" if col == "source" else "right")
    for name, f in best.per_source.items():
        s.add_row(name, _fmt(f["latency"], "", 1e3), _fmt(f["p95"], "", 1e3),
                  _fmt(f["energy"], ""), _fmt(f["bytes"], "", 1e-3))  # fmt: skip
    console.print(s)
    k = Table(title="the best, per priority class", title_justify="left")
    for col in ("priority", "latency ms (mean)", "p95 ms (worst source)"):
        k.add_column(col, justify="right")
    for prio, f in best.per_class.items():
        k.add_row(str(prio), _fmt(f["latency"], "", 1e3), _fmt(f["p95"], "", 1e3))
    console.print(k)
