"""Every scenario in docs/graphs.md loads and runs briefly, every arrival accounted for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.graph.expand import graphs
from sim.loader import load
from sim.streams import Streams
from sim.workload import arrival_times
from sim.world import simulate
from tests.helpers import ROOT

TEXT = (ROOT / "docs" / "graphs.md").read_text(encoding="utf-8")
EXAMPLES = [b for b in re.findall(r"```yaml\n(.*?)```", TEXT, re.S) if b.startswith("name:")]


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) == 4


@pytest.mark.parametrize("text", EXAMPLES, ids=lambda t: t.split()[1])
def test_example_runs(text: str, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    s = load(path)
    s = s.model_copy(update={"horizon": s.warmup + 5.0})
    rep = simulate(s, s.seed)
    streams = Streams(s.seed, 0)
    for src in (src for g in graphs(s) for src in g.sources):
        (rec,) = [r for r in rep.sources if r.name == src.name]
        times = arrival_times(src, streams.rng(f"source:{src.name}:arrivals"))
        expected = 0
        for t in times:
            if t >= s.horizon:
                break
            expected += 1
        assert len(rec.ids) + rec.in_flight == expected
        assert len(rec.ids) > 0
