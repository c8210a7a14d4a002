"""The requests table joins its sources' pieces whatever their codes' integer widths."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from analysis.tables import requests_table
from sim.cli import main
from sim.loader import load, revised
from sim.run import run
from tests.helpers import SCENARIOS


def test_sources_with_few_and_many_requests_make_one_table(tmp_path: Path) -> None:
    """A replication whose graph source finished nothing beside one that finished some:
    their open columns (exit, devices) come in different code widths and still join."""
    s = load(SCENARIOS / "graphs" / "chain.yaml")
    s = revised(s, "short", horizon=0.03, replications=3)
    table = requests_table(run(s, records="all"))  # raised before the pieces were widened
    assert pa.types.is_dictionary(table.schema.field("devices").type)
    out = tmp_path / "r"
    assert main(["run", str(SCENARIOS / "graphs" / "chain.yaml"), "--horizon", "30ms",
                 "--replications", "3", "--out", str(out), "--quiet", "--json"]) == 0  # fmt: skip
    assert (out / "requests.parquet").is_file()
