"""What a run keeps of its requests: the requests table in Parquet and CSV, row for row the
record arrays; and streamed tallies (records "summary") that give the summary's figures
without the rows, counts and means exactly, quantiles within the sketch's stated error."""

from __future__ import annotations

import csv
import gc
import math
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from analysis.summary import metrics
from analysis.tables import columns, write_requests
from sim import streaming
from sim.loader import load
from sim.records import Replication, Status, phase_names
from sim.streaming import ALPHA, BUFFER, CHUNK, Sketch, Stream, chunk
from sim.streams import Streams
from sim.world import World, simulate
from tests.helpers import SCENARIOS, base, crash_recover, load_dict

STATUS = {int(s): s.name.lower() for s in Status}


def mixed() -> dict[str, Any]:
    """Two pipelines of one and two stages (padded columns), a lossy link (failed requests),
    a short queue (dropped ones), a deadline (late ones) and a warm-up (unmeasured ones)."""
    lossy = {"ends": ["cam", "srv"], "bandwidth": "10Mbps", "latency": "2ms", "loss": 0.2,
             "retransmit_timeout": "20ms", "max_retransmits": 1}  # fmt: skip
    exp = {"kind": "exponential", "mean": "8ms"}
    return base(
        horizon="20s",
        warmup="2s",
        devices={"cam": {}, "srv": {"queue_limit": 3}},
        links=[lossy],
        pipelines={
            "one": {"stages": [{"on": "srv", "service": exp}], "result_bytes": 100},
            "two": {"stages": [{"on": "cam", "service": exp}, {"on": "srv", "service": exp}]},
        },
        workload=[
            {"name": "a", "at": "cam", "pipeline": "one", "deadline": "30ms",
             "arrivals": {"kind": "poisson", "rate": "40/s"}},
            {"name": "b", "at": "cam", "pipeline": "two",
             "arrivals": {"kind": "poisson", "rate": "30/s"}},
        ],
    )  # fmt: skip


def expected_rows(rep: Replication) -> list[dict[str, Any]]:
    """The requests table as the record arrays give it, one dict per row."""
    width = max(len(s.stages) for s in rep.sources)
    out = []
    for src in rep.sources:
        phases = src.phases()
        for i in range(len(src.ids)):
            row = {
                "replication": rep.index, "id": int(src.ids[i]), "source": src.name,
                "pipeline": src.pipeline, "priority": src.priority,
                "measured": int(src.arrival[i] >= rep.start), "arrival": src.arrival[i],
                "completion": src.completion[i], "status": STATUS[int(src.status[i])],
                "latency": src.latency[i], "real_stages": "", "lost_attempts": int(src.lost[i]),
            }  # fmt: skip
            for name in phase_names(width):
                row[name] = phases[name][i] if name in phases else math.nan
            served = [
                d for k, d in enumerate(src.stages) if not math.isnan(phases[f"service{k}"][i])
            ]
            row |= {"exit": "", "devices": ";".join(dict.fromkeys(served))}  # no exits in pipelines
            out.append({k: None if isinstance(v, float) and math.isnan(v) else v
                        for k, v in row.items()})  # fmt: skip
    return out


def test_parquet_and_csv_hold_the_record_arrays_row_for_row(tmp_path: Path) -> None:
    """Every row of requests.parquet and requests.csv equals the record arrays', floats
    exactly (the CSV's text reads back to the same double), a time that never happened
    empty (null); every status appears; the devices are the stages served."""
    reps = [simulate(load_dict(mixed()), 5, r) for r in range(2)]
    want = [row for rep in reps for row in expected_rows(rep)]
    assert {r["status"] for r in want} == {"ok", "late", "failed", "dropped"}
    assert {r["measured"] for r in want} == {0, 1}
    assert {r["devices"] for r in want} == {"", "cam", "srv", "cam;srv"}
    parquet = pq.read_table(write_requests(tmp_path / "r.parquet", reps)).to_pylist()
    assert parquet == want
    with write_requests(tmp_path / "r.csv", reps, "csv").open(newline="") as f:
        text = list(csv.DictReader(f))
    assert list(text[0]) == columns(2)
    kinds = {k: type(v) for k, v in want[0].items() if v is not None}
    empty = set(want[0]) - {k for k, t in kinds.items() if t is str}  # else "" is ""
    read = [{k: None if v == "" and k in empty else kinds.get(k, float)(v) for k, v in r.items()}
            for r in text]  # fmt: skip
    assert read == want


def test_an_unknown_format_writes_nothing(tmp_path: Path) -> None:
    """A format outside parquet and csv is refused by name, and no file is left."""
    with pytest.raises(ValueError, match="format: unknown 'xlsx'; choose one of parquet, csv"):
        write_requests(tmp_path / "r.xlsx", [], "xlsx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("scale", [1e-4, 1.0, 3e3])
def test_sketch_percentiles_are_within_alpha_of_numpys(seed: int, scale: float) -> None:
    """On heavy-tailed data, each percentile of the sketch is within ALPHA (relative) of
    numpy.percentile's; sketches of two halves merged are the sketch of the whole."""
    rng = np.random.default_rng(seed)
    values = scale * rng.lognormal(0.0, 1.5, 5000)
    values[:7] = 0.0
    q = [0, 1, 25, 50, 90, 95, 99, 99.9, 100]
    exact = np.percentile(values, q)
    whole = Sketch.of(values)
    approx = whole.percentiles(q)
    assert np.all(np.abs(approx - exact) <= ALPHA * exact * (1 + 1e-9))
    halves = Sketch.of(values[:2000]).merge(Sketch.of(values[2000:]))
    assert np.array_equal(halves.counts, whole.counts) and halves.zeros == whole.zeros == 7


def flat(tree: Any, path: str = "") -> dict[str, float]:
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flat(sub, f"{path}.{key}").items()}
    return {path: float(tree)} if isinstance(tree, int | float) else {}


def faulty() -> dict[str, Any]:
    """Poisson 250/s on a device that crashes every 4 s for 0.5 s on average, with a deadline:
    over 4,096 requests a source (several chunks), failures, recoveries and late requests."""
    raw = base(horizon="40s", warmup="3s")
    raw["devices"]["dev"].update(crash_recover(2, 0.3))
    raw["pipelines"]["p"]["stages"][0]["service"] = {"kind": "exponential", "mean": "3ms"}
    raw["workload"][0].update(arrivals={"kind": "poisson", "rate": "250/s"}, deadline="12ms")
    return raw


@pytest.mark.parametrize("buffer", [BUFFER, 64])
@pytest.mark.parametrize("make", [mixed, faulty])
def test_streamed_tallies_give_the_summary_of_the_rows(
    make: Any, buffer: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records "summary" and "all" on one seed: the same keys; every count and mean equal
    (up to summation order), every latency percentile within the sketch's ALPHA; whether
    the streams fold a few large chunks or many small ones (a failure spanning folds)."""
    monkeypatch.setattr(streaming, "BUFFER", buffer)
    monkeypatch.setattr(streaming, "CHUNK", min(CHUNK, buffer))
    scenario = load_dict(make())
    rows = simulate(scenario, 11, 0, records="all")
    streamed = simulate(scenario, 11, 0, records="summary")
    assert all(len(s.ids) > streaming.CHUNK for s in rows.sources) or make is mixed
    assert all(s.tally is not None and len(s.ids) == 0 for s in streamed.sources)
    exact, approx = flat(metrics(rows)), flat(metrics(streamed))
    assert exact.keys() == approx.keys()
    if make is faulty:
        assert exact[".faults.failures"] >= 5 and not math.isnan(exact[".faults.time_to_recover"])
        assert exact[".faults.latency_inside"] != exact[".faults.latency_outside"]
    for key, value in exact.items():
        if math.isnan(value):
            assert math.isnan(approx[key]), key
        elif key.endswith(("p50", "p90", "p95", "p99")):
            assert abs(approx[key] - value) <= ALPHA * value * (1 + 1e-9), key
        else:
            assert approx[key] == pytest.approx(value, rel=1e-9, abs=1e-15), key


def test_a_stream_holds_at_most_one_chunk_of_rows() -> None:
    """Records "summary": while the world runs, no route buffers more than its chunk
    (at most CHUNK rows), and at the end its tally has counted every finished request."""
    scenario = load_dict(faulty())
    world = World(scenario, Streams(11, 0), records="summary")
    most = 0
    for k in range(1, 40):
        world.env.run(until=k)
        most = max(most, max(len(r.done) for r in world.routes))
    assert 0 < most <= chunk(1) == CHUNK
    (src,) = world.run().sources
    rows = simulate(scenario, 11, 0).sources[0]
    assert src.tally is not None
    assert (
        src.tally.counts.tolist()
        == np.bincount(rows.status[rows.arrival >= scenario.warmup], minlength=4).tolist()
    )
    assert isinstance(world.routes[0].done, Stream)


def test_unknown_records_are_refused_by_name() -> None:
    """records outside none, summary, all: a ValueError naming the choices."""
    with pytest.raises(ValueError, match="records: unknown 'rows'; choose one of none, summary"):
        simulate(load_dict(base()), 1, records="rows")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["reference/tandem.yaml", "graphs/chain.yaml", "graphs/fork_join.yaml"]
)
def test_a_world_is_freed_as_its_run_ends(name: str) -> None:
    """No reference cycle keeps a world (its requests' rows, its processes) alive once
    nothing refers to it: it is freed at once, without the cyclic collector."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        world = World(load(SCENARIOS / name), Streams(3, 0))
        ref = weakref.ref(world)
        world.run()
        del world
        assert ref() is None
    finally:
        if enabled:
            gc.enable()
