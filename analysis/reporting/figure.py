"""One figure of a report: drawn once with matplotlib, written as SVG, PNG and PDF.

Figures are made without pyplot (no global state, no display: the Agg canvas), in one
style (:func:`canvas`): a white background, light grid, fonts drawn as paths in the
SVG so the page needs no font files. A *family* (:data:`Family`) is a function from
the results to the figures it can draw from them, none when its data is missing; the
families are listed in :mod:`analysis.reporting.families`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

    from analysis.reporting.results import Results

STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "path",
    "svg.hashsalt": "edgesim",
    "legend.frameon": False,
    "legend.fontsize": 8,
}
WIDTH = 7.0  # inches: a text column of a two-column paper is ~3.4, a page ~7
FORMATS = ("png", "pdf")


@dataclass(frozen=True)
class Figure:
    """A drawn figure: its file name, its heading and caption on the page."""

    name: str
    title: str
    caption: str
    figure: MplFigure

    def __repr__(self) -> str:
        return f"Figure({self.name!r}, {len(self.figure.axes)} axes)"

    def svg(self) -> str:
        """The figure as an inline ``<svg>`` element (no XML prolog, ids kept unique)."""
        buf = io.StringIO()
        self.figure.savefig(buf, format="svg", dpi=150, metadata={"Date": None})
        text = buf.getvalue()
        text = text[text.index("<svg") :]
        text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
        return (
            re.sub(r'id="([^"]+)"', rf'id="{self.name}-\1"', text)
            .replace("url(#", f"url(#{self.name}-")
            .replace('xlink:href="#', f'xlink:href="#{self.name}-')
        )

    def save(self, folder: Path) -> list[Path]:
        """Write the figure as PNG (200 dpi) and PDF into ``folder``; the paths written."""
        paths = []
        for fmt in FORMATS:
            path = folder / f"{self.name}.{fmt}"
            self.figure.savefig(path, format=fmt, dpi=200, metadata=_metadata(fmt))
            paths.append(path)
        return paths


def _metadata(fmt: str) -> dict[str, None]:
    return {"CreationDate": None} if fmt == "pdf" else {}


Family = Callable[["Results"], Iterable[Figure]]


def canvas(rows: int = 1, cols: int = 1, height: float = 3.0) -> tuple[MplFigure, list[Axes]]:
    """A new figure in the report's style and its axes, row by row."""
    import matplotlib.style

    matplotlib.style.use(STYLE)
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(WIDTH, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [ax for row in axes for ax in row]
