"""The requests table's open columns (exit taken, devices that served) and the events file:
each checked against an independent reading of the records (per-request log filters, the
stamps, a placement whose choice is known)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis import columns
from analysis.arrow import numeric
from analysis.events import NAMES, events_table
from analysis.report import write
from analysis.tables import requests_table
from sim.graph.log import BLOCK, Event, exit_of, served_by
from sim.loader import from_dict
from sim.records import Replication, SourceRecords
from sim.streams import Streams
from sim.world import World, simulate
from tests.helpers import ROOT, load_dict
from tests.helpers import served_by as one_stage
from tests.test_graph_summary import scenario as split_graph
from tests.test_records import faulty, mixed
from tests.test_strategies import EveryOther


def graph_rep(horizon: str = "20s") -> Replication:
    """The split graph with the server listed first: its device order is not service order."""
    raw = split_graph() | {"horizon": horizon, "warmup": "1s"}
    raw["devices"] = {"server": {}, "cam0": {}, "cam1": {}}
    return simulate(from_dict(raw, file="t.yaml", base=ROOT), 3, 0)


def test_graph_requests_name_their_exit_and_the_devices_that_served_them() -> None:
    """Each graph request's ``exit`` is the actor of its exit event and ``devices`` its
    devices in order of first service, as a filter of the log per request finds them."""
    rep = graph_rep()
    (g,) = rep.graphs
    assert g.events is not None
    rows = requests_table([rep]).to_pylist()
    for row in rows:
        exit_actor = exit_of(g.events, row["id"])
        assert row["exit"] == ("" if exit_actor < 0 else g.actors[exit_actor])
        assert row["devices"] == ";".join(g.devices[d] for d in served_by(g.events, row["id"]))
    pairs = {(r["source"], r["exit"], r["devices"]) for r in rows}
    assert pairs == {("cam0", "", "cam0;server"), ("cam0", "front", "cam0"),
                     ("cam1", "", "cam1;server"), ("cam1", "front", "cam1")}  # fmt: skip


def test_the_events_file_is_each_graphs_log_by_name() -> None:
    """A graph's rows in the events table are its log's, in order, indices turned to names."""
    rep = graph_rep("6s")
    (g,) = rep.graphs
    assert g.events is not None
    got = events_table([rep]).to_pylist()
    want = [
        {"replication": 0, "request": int(e["request"]), "source": g.sources[e["source"]],
         "actor": g.actors[e["actor"]] if e["actor"] >= 0 else "",
         "device": g.devices[e["device"]] if e["device"] >= 0 else "",
         "event": ["arrive", "start", "end", "send", "receive", "exit", "drop", "fail"][
             e["event"]], "time": float(e["time"])}
        for e in g.events
    ]  # fmt: skip
    assert got == want and len(got) > 500


def by_request(events: list[dict[str, Any]]) -> dict[int, dict[tuple[str, str], float]]:
    out: dict[int, dict[tuple[str, str], float]] = {}
    for e in events:
        mine = out.setdefault(e["request"], {})
        assert (e["actor"], e["event"]) not in mine  # one of each per request in a chain
        mine[(e["actor"], e["event"])] = e["time"]
    return out


@pytest.mark.parametrize("make", [mixed, faulty])
def test_a_pipelines_events_give_back_its_requests_phases(make: Any) -> None:
    """Grouped by request, a pipeline's events give each request's phases of the requests
    table exactly (transfer: from the last end, or the sending, to the arrival; wait:
    arrival to start; service: start to end; the result: last end to receive); a dropped
    request has a drop row where it was turned away, a lost one no receive (a failure-aware
    run keeps no stamps of a lost or dropped attempt: no rows either)."""
    reps = [simulate(load_dict(make()), 5, r) for r in range(2 if make is mixed else 1)]
    events = events_table(reps).to_pylist()
    for rep, table in ((r, requests_table([r]).to_pylist()) for r in reps):
        log = by_request([e for e in events if e["replication"] == rep.index])
        last = {src.name: len(src.stages) - 1 for src in rep.sources}
        for row in table:
            mine = log[row["id"]]
            k = last[row["source"]]
            before = mine[("", "arrive")]
            for j in range(k + 1):
                stage = f"stage{j}"
                if row[f"transfer{j}"] is None:
                    assert (stage, "arrive") not in mine
                    break
                assert mine[(stage, "arrive")] - before == row[f"transfer{j}"]
                if row[f"wait{j}"] is None:
                    dropped = (stage, "drop") in mine
                    assert dropped == (row["status"] == "dropped")
                    break
                assert mine[(stage, "start")] - mine[(stage, "arrive")] == row[f"wait{j}"]
                assert mine[(stage, "end")] - mine[(stage, "start")] == row[f"service{j}"]
                before = mine[(stage, "end")]
                assert ((stage, "send") in mine) == (j < k), "a send before each next stage"
            done = row["status"] in ("ok", "late")
            assert (("", "receive") in mine) == done
            if done:
                assert mine[("", "receive")] - before == row["transfer_result"]
    kinds = {"arrive", "start", "end", "receive"} | ({"send", "drop"} if make is mixed else set())
    assert {e["event"] for e in events} == kinds


def test_devices_name_where_a_placement_runtime_sent_each_request() -> None:
    """A runtime that sends request ``rid`` to alternative ``rid mod 3``: the requests
    table's ``devices`` and the events file's service rows name that alternative."""
    raw = one_stage({"srv": {}, "a": {}, "b": {}}, {"on": "srv", "standby": ["a", "b"]},
                    fault_tolerance={"policy": "failover"}, horizon="30s", replications=1)  # fmt: skip
    world = World(load_dict(raw), Streams(1, 0))
    assert world.resilience is not None
    (rt,) = world.resilience.resilient.placements["cam"]
    world.resilience.resilient.placements["cam"] = (EveryOther(rt.plan, rt.shared),)
    rep = world.run()
    rows = requests_table([rep]).to_pylist()
    assert len(rows) > 100 and all(r["status"] == "ok" for r in rows)
    assert [r["devices"] for r in rows] == [["srv", "a", "b"][r["id"] % 3] for r in rows]
    ends = [e for e in events_table([rep]).to_pylist() if e["event"] == "end"]
    assert [e["device"] for e in ends] == [["srv", "a", "b"][e["request"] % 3] for e in ends]


class Twice:
    """A column another part might add: twice the request's id."""

    name = "twice"

    def values(self, rep: Replication, src: SourceRecords) -> pa.Array:
        return numeric(src.ids * 2)


def test_a_registered_column_is_appended_and_a_name_is_taken_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registering a column adds it after the others, one value per request; registering
    its name again is refused by name."""
    monkeypatch.setattr(columns, "COLUMNS", dict(columns.COLUMNS))
    monkeypatch.setattr("analysis.tables.COLUMNS", columns.COLUMNS)
    columns.register(Twice())
    table = requests_table([simulate(load_dict(mixed()), 5, 0)])
    assert table.column_names[-3:] == ["exit", "devices", "twice"]
    assert table.column("twice").to_pylist() == [2 * i for i in table.column("id").to_pylist()]
    with pytest.raises(ValueError, match="column 'twice' is registered already"):
        columns.register(Twice())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_run_folder_holds_the_events_beside_the_requests(tmp_path: Path, fmt: str) -> None:
    """report.write leaves events.<fmt> beside requests.<fmt>, the events table row for row
    (CSV times read back to the same double)."""
    reps = [simulate(load_dict(mixed()), 5, 0), graph_rep("3s")]
    write(tmp_path, {"name": "x"}, {"name": "x"}, reps, fmt=fmt)
    assert (tmp_path / f"requests.{fmt}").exists()
    want = events_table(reps).to_pylist()
    if fmt == "parquet":
        got = pq.read_table(tmp_path / "events.parquet").to_pylist()
    else:
        with (tmp_path / "events.csv").open(newline="") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == NAMES
            got = [{**r, "replication": int(r["replication"]), "request": int(r["request"]),
                    "time": float(r["time"])} for r in reader]  # fmt: skip
    assert got == want and not any(math.isnan(e["time"]) for e in want)
    assert {e["source"] for e in want} == {"a", "b", "cam0", "cam1"}


def test_the_log_keeps_every_event_in_the_order_it_happened() -> None:
    """Over several of the log's numpy blocks: times never go back, and every request
    the source sent (finished or still in flight) has its one sending row."""
    rep = graph_rep("60s")
    (g,) = rep.graphs
    assert g.events is not None and len(g.events) > 2 * BLOCK
    assert (np.diff(g.events["time"]) >= 0).all()
    sent = g.events[(g.events["actor"] == -1) & (g.events["event"] == Event.ARRIVE)]
    ids = np.concatenate([np.r_[s.ids, s.pending] for s in rep.sources])
    assert sorted(sent["request"].tolist()) == sorted(ids.tolist())
