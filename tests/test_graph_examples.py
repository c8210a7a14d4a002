"""The graph examples shipped in scenarios/graphs/ are the ones docs/graphs.md shows."""

from __future__ import annotations

import re

from tests.helpers import ROOT, SCENARIOS


def test_shipped_graph_examples_are_the_documented_ones() -> None:
    doc = (ROOT / "docs" / "graphs.md").read_text(encoding="utf-8")
    documented = {
        m.group(1): block
        for block in re.findall(r"```yaml\n(.*?)```", doc, re.S)
        if (m := re.search(r"^name: (\w+)", block, re.M))
    }
    shipped = {
        p.stem: p.read_text(encoding="utf-8").split("\n", 1)[1]
        for p in (SCENARIOS / "graphs").glob("*.yaml")
    }
    assert shipped == documented
