"""Accuracy as a simulated outcome: samples, the serving variant, the summary and the mixture.

A trained ResNet-8 is split by the channels of ``s3.b1.conv2`` over devices a and b
(service times given, so no cost model is involved); each request is scored by the
damage table of :mod:`models.accuracy`. The two statements the trained-model issue asks
for are the first two tests; the rest pin the per-request rule, the records and the
analytic mixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from analysis.analytic import analyze
from analysis.summary import summary
from analysis.tables import requests_table
from models.accuracy import Damage, correct
from sim.graph.accuracy import trained
from sim.loader import from_dict, load
from sim.problems import ScenarioError
from sim.records import Replication, SourceRecords
from sim.run import run
from tests.helpers import ROOT, SCENARIOS, chain
from tests.test_graph_theory import graph
from tests.test_graph_theory import run as simulate

MODEL = "resnet8-mnist5k-seed0-e6"
A_HALF, B_HALF = "s3.b1.conv2:0-31", "s3.b1.conv2:32-63"


def det(value: str) -> dict[str, Any]:
    return {"kind": "deterministic", "value": value}


def split(
    arrivals: dict[str, Any], b_service: str = "1ms", scored: bool = True, **extra: Any
) -> dict[str, Any]:
    """The split of ResNet-8 over a and b, gathered at the source with a 50 ms timeout."""
    actors = {
        "front": {"on": "src", "service": det("1ms")},
        "half_a": {"on": "a", "after": ["front"], "service": det("1ms"), "loses": [A_HALF]},
        "half_b": {"on": "b", "after": ["front"], "service": det(b_service), "loses": [B_HALF]},
        "gather": {
            "on": "src",
            "after": ["half_a", "half_b"],
            "join": {"kind": "k_of_n", "k": 2, "timeout": "50ms"},
            "service": det("1ms"),
        },
    }
    if not scored:
        for a in actors.values():
            a.pop("loses", None)
    raw = graph(actors, arrivals, ["a", "b"], **extra)
    if scored:
        raw["graphs"]["g"]["accuracy"] = {"model": MODEL}
    return raw


def table(*items: str) -> np.ndarray:
    return correct(trained(MODEL), Damage.parse(list(items)))


def scored(rep: Replication) -> tuple[SourceRecords, np.ndarray, np.ndarray]:
    src = rep.sources[0]
    assert src.accuracy is not None
    return src, src.accuracy.sample, src.accuracy.correct


POISSON = {"kind": "poisson", "rate": 50}


def test_with_nothing_failed_the_accuracy_is_the_models_test_accuracy() -> None:
    """About 3,000 requests; the card's test accuracy lies in the simulated 95 % interval."""
    rep = simulate(split(POISSON, horizon="60s", warmup="1s"), 0)
    acc = summary([rep])["accuracy"]
    expected = trained(MODEL).card["test_accuracy"]
    assert expected == pytest.approx(table().mean())
    for key in ("answered", "all"):
        low, high = acc[key]["ci95"]
        assert low <= expected <= high, (key, acc[key])
    assert acc["inside"]["answered"]["mean"] is None  # nothing failed: nothing inside


def test_with_a_device_down_the_accuracy_is_the_damage_tables() -> None:
    """b is down from the start: every answer comes from a's half alone."""
    raw = split(POISSON, horizon="60s", warmup="1s")
    raw["failures"] = [{"at": "0s", "target": "b"}]
    acc = summary([simulate(raw, 1)])["accuracy"]
    expected = table(B_HALF).mean()
    assert expected < 0.7  # far from the intact 95 %, so the test tells them apart
    for cell in (acc["answered"], acc["inside"]["answered"], acc["inside"]["all"]):
        low, high = cell["ci95"]
        assert low <= expected <= high, cell
    assert acc["outside"]["all"]["mean"] is None


def test_with_both_halves_down_nothing_is_answered_and_nothing_is_correct() -> None:
    raw = split(POISSON, horizon="20s", warmup="1s")
    raw["failures"] = [{"at": "0s", "target": "a"}, {"at": "0s", "target": "b"}]
    acc = summary([simulate(raw, 1)])["accuracy"]
    assert acc["answered"]["mean"] is None
    assert acc["all"]["mean"] == 0.0 and acc["inside"]["all"]["ci95"][1] < 0.005


def test_each_answer_is_the_variant_that_served_it() -> None:
    """Frames every 50 ms; b is down from 20.02 s to 40.02 s: exactly the frames sent then
    are scored by the network without b's channels, the others by the intact one."""
    raw = split({"kind": "periodic", "rate": 20}, horizon="60s", warmup=0)
    raw["failures"] = [{"at": "20.02s", "target": "b", "duration": "20s"}]
    src, sample, right = scored(simulate(raw, 2))
    down = (src.arrival >= 20.02) & (src.arrival < 40.02)
    assert 390 < down.sum() < 410 and (src.status <= 1).all()
    expected = np.where(down, table(B_HALF)[sample], table()[sample])
    np.testing.assert_array_equal(right, expected)
    assert src.accuracy is not None
    inside = src.accuracy.counts[1]
    assert inside[2] == down.sum() and inside[1] == expected[down].sum()


def test_a_loss_further_up_a_branch_takes_its_channels_with_it() -> None:
    """b's half goes through a relay on a before the gather: with b down the relay has
    nothing to send, and the answers still lack b's channels."""
    raw = split({"kind": "periodic", "rate": 20}, horizon="20s", warmup=0)
    actors = raw["graphs"]["g"]["actors"]
    actors["relay"] = {"on": "a", "after": ["half_b"], "service": det("1ms")}
    actors["gather"]["after"] = ["half_a", "relay"]
    raw["failures"] = [{"at": "0s", "target": "b"}]
    src, sample, right = scored(simulate(raw, 2))
    assert len(sample) > 300 and (src.status == 0).all()
    np.testing.assert_array_equal(right, table(B_HALF)[sample])


def test_an_input_left_out_by_the_timeout_takes_its_channels_with_it() -> None:
    """b answers in 100 ms, after the gather's 50 ms timeout: every answer lacks b's half."""
    raw = split({"kind": "periodic", "rate": 5}, b_service="100ms", horizon="30s", warmup=0)
    src, sample, right = scored(simulate(raw, 3))
    assert len(sample) > 100 and (src.status == 0).all()
    np.testing.assert_array_equal(right, table(B_HALF)[sample])


def test_samples_cover_the_test_split_and_leave_the_other_draws_alone() -> None:
    """Scoring adds a stream of its own: arrivals and service draws are those of the same
    graph without accuracy (common random numbers), request for request."""
    exp = {"kind": "exponential", "mean": "5ms"}
    plain, with_acc = (split(POISSON, horizon="40s", warmup="1s", scored=s) for s in (False, True))
    for raw in (plain, with_acc):
        raw["graphs"]["g"]["actors"]["half_a"]["service"] = exp
    a, b = simulate(plain, 4).sources[0], simulate(with_acc, 4).sources[0]
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.stamps, b.stamps)
    assert b.accuracy is not None and a.accuracy is None
    counts = np.bincount(b.accuracy.sample, minlength=1000)
    assert counts.sum() == len(b.ids) and (counts > 0).mean() > 0.8  # ~2 draws per sample


def test_each_source_draws_its_own_samples() -> None:
    raw = split(POISSON, horizon="5s", warmup=0)
    raw["graphs"]["g"]["sources"].append({"name": "t", "at": "src", "arrivals": POISSON})
    s, t = (src.accuracy for src in simulate(raw, 4).sources)
    assert s is not None and t is not None and (s.sample[:50] != t.sample[:50]).any()


def test_summary_and_all_records_report_the_same_accuracy_and_the_table_its_columns(
    tmp_path: Path,
) -> None:
    raw = split(POISSON, horizon="30s", warmup="1s")
    raw["devices"]["b"] = {"failure": {"ttf": det("5s"), "ttr": det("3s")}}
    scenario = from_dict(raw, file="test.yaml", base=ROOT)
    kept = run(scenario, replications=2, records="all")
    folded = run(scenario, replications=2, records="summary")
    acc = summary(kept)["accuracy"]
    assert acc == summary(folded)["accuracy"]
    for rep in folded:  # inside a failure period: the same requests as the latency split's
        (src,) = rep.sources
        assert src.accuracy is not None and src.tally is not None
        np.testing.assert_array_equal(src.accuracy.counts[:, 2], src.tally.split[:, 3])
    assert acc["inside"]["answered"]["mean"] < acc["outside"]["answered"]["mean"]
    t = requests_table(kept).to_pydict()
    src = kept[0].sources[0]
    assert src.accuracy is not None
    n = len(src.ids)
    assert t["sample"][:n] == src.accuracy.sample.tolist()
    assert t["correct"][:n] == src.accuracy.correct.astype(int).tolist()
    mm1 = load(SCENARIOS / "reference" / "mm1.yaml")
    short = mm1.model_copy(update={"horizon": mm1.warmup + 2.0})
    assert "sample" not in requests_table(run(short, replications=1)).schema.names


def bad(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        from_dict(raw, file="test.yaml", base=ROOT)
    return [p.path for p in caught.value.problems]


def test_refused_unknown_model_bad_losses_and_too_many_damages() -> None:
    raw = split(POISSON)
    raw["graphs"]["g"]["accuracy"]["model"] = "resnet9"
    assert bad(raw) == ["graphs.g.accuracy.model"]
    raw = split(POISSON)
    actors = raw["graphs"]["g"]["actors"]
    actors["half_a"]["loses"] = ["s3.b1.conv9:0-3"]
    actors["half_b"]["loses"] = ["s3.b1.conv2:60-64"]
    actors["front"]["loses"] = ["stem:3-1"]
    assert bad(raw) == [f"graphs.g.actors.{n}.loses" for n in ("front", "half_a", "half_b")]
    raw = split(POISSON, scored=True)
    del raw["graphs"]["g"]["accuracy"]
    assert bad(raw) == ["graphs.g.actors.half_a.loses", "graphs.g.actors.half_b.loses"]
    raw = split(POISSON)
    extra = {f"x{i}": {"on": "a", "after": ["front"], "loses": [f"fc:{i}"]} for i in range(4)}
    raw["graphs"]["g"]["actors"] |= extra
    raw["graphs"]["g"]["actors"]["gather"]["after"] += list(extra)
    raw["graphs"]["g"]["actors"]["gather"]["join"]["k"] = 6
    assert bad(raw) == ["graphs.g.actors"]  # 6 actors with losses: 64 damages
    raw = split(POISSON)
    raw["graphs"]["g"]["actors"]["front"]["exit"] = 0.2
    assert bad(raw) == ["graphs.g.actors.front.exit"]  # a probability has no answer to score


def test_the_cli_refuses_an_unknown_model_in_one_line(tmp_path: Path) -> None:
    raw = split(POISSON)
    raw["graphs"]["g"]["accuracy"]["model"] = "resnet9"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(path)],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "graphs.g.accuracy.model" in line and MODEL in line


def test_the_analytic_accuracy_is_the_state_weighted_damage_table() -> None:
    """b up a fraction A = 5 / (5 + 3) of the time: answered accuracy A·intact + (1−A)·damaged;
    inside failures (only b fails) the damaged one, outside the intact one."""
    raw = split(POISSON, horizon="30s", warmup="1s")
    raw["devices"]["b"] = {"failure": {"ttf": det("5s"), "ttr": det("3s")}}
    figures = analyze(from_dict(raw, file="test.yaml", base=ROOT))["accuracy"]
    up = 5 / 8
    intact, damaged = table().mean(), table(B_HALF).mean()
    assert figures["answered"]["value"] == pytest.approx(up * intact + (1 - up) * damaged)
    assert figures["all"]["value"] == pytest.approx(figures["answered"]["value"])
    assert figures["inside"]["answered"]["value"] == pytest.approx(damaged)
    assert figures["outside"]["answered"]["value"] == pytest.approx(intact)
    assert figures["sources"]["s"]["answered"]["value"] == pytest.approx(
        up * intact + (1 - up) * damaged
    )


def test_the_analytic_accuracy_counts_a_request_with_no_half_left_as_unanswered() -> None:
    """a and b both fail: with both down no answer; 'all' counts that state as wrong."""
    raw = split(POISSON, horizon="30s", warmup="1s")
    for d in ("a", "b"):
        raw["devices"][d] = {"failure": {"ttf": det("5s"), "ttr": det("5s")}}
    figures = analyze(from_dict(raw, file="test.yaml", base=ROOT))["accuracy"]
    intact, no_a, no_b = table().mean(), table(A_HALF).mean(), table(B_HALF).mean()
    answered = (intact + no_a + no_b) / 4
    assert figures["all"]["value"] == pytest.approx(answered)
    assert figures["answered"]["value"] == pytest.approx(answered / 0.75)


def test_the_shipped_scenario_agrees_with_its_analytic_mixture() -> None:
    """scenarios/accuracy: every accuracy row of `edgesim analyze --compare` inside."""
    done = subprocess.run(
        [sys.executable, "-m", "sim", "analyze", "scenarios/accuracy/split_channels.yaml",
         "--compare", "--json"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    rows = [r for r in json.loads(done.stdout)["comparison"] if r["figure"].startswith("acc")]
    assert len(rows) == 4
    assert all(r["inside_ci"] for r in rows), rows


EXITS = "resnet8_exits-mnist5k-seed0-e6"


def exits_chain(threshold: float, head: str = "exit1") -> dict[str, Any]:
    """A chain through two exit heads of the early-exit ResNet-8, then its final classifier."""

    def leave(h: str) -> dict[str, Any]:
        return {"model": EXITS, "head": h, "threshold": threshold}

    actors = {
        "one": {"on": "a", "service": det("1ms"), "exit": leave(head)},
        "two": {"on": "a", "after": ["one"], "service": det("1ms"), "exit": leave("exit2")},
        "rest": {"on": "b", "after": ["two"], "service": det("1ms")},
    }
    raw = graph(actors, {"kind": "periodic", "rate": 20}, ["a", "b"], horizon="30s", warmup=0)
    raw["graphs"]["g"]["accuracy"] = {"model": EXITS}
    return raw


def test_a_request_exits_where_its_sample_does_and_is_scored_by_that_head() -> None:
    exits = pytest.importorskip("models.exits")
    from sim.graph.log import exit_of

    net = trained(EXITS)
    ex = exits.exit_table(net, 0.9)
    rep = simulate(exits_chain(0.9), 5)
    src, sample, right = scored(rep)
    events = rep.graphs[0].events
    assert events is not None
    actors = rep.graphs[0].actors
    where = np.array([exit_of(events, rid) for rid in src.ids.tolist()])
    head = np.full(len(where), 2)
    head[where == actors.index("one")], head[where == actors.index("two")] = 0, 1
    np.testing.assert_array_equal(head, ex.taken[sample])
    assert 0 < (head == 0).mean() < 1 and (head == 1).any() and (head == 2).any()
    final = correct(net)
    np.testing.assert_array_equal(right, np.where(head < 2, ex.correct[sample], final[sample]))
    up = analyze(from_dict(exits_chain(0.9), file="test.yaml", base=ROOT))["accuracy"]
    assert up["answered"]["value"] == pytest.approx(ex.accuracy())


def test_a_model_exit_names_an_early_head_of_the_graphs_model_and_follows_no_losses() -> None:
    pytest.importorskip("models.exits")
    assert bad(exits_chain(0.9, head="exit7")) == ["graphs.g.actors.one.exit.head"]
    raw = exits_chain(0.9)
    raw["graphs"]["g"]["actors"]["one"]["loses"] = ["stem:0"]
    assert bad(raw) == ["graphs.g.actors.two.exit"]
    raw = exits_chain(0.9)
    raw["graphs"]["g"]["accuracy"]["model"] = MODEL
    assert bad(raw) == ["graphs.g.actors.one.exit.model", "graphs.g.actors.two.exit.model"]


def test_a_pipeline_run_as_a_chain_graph_is_scored_by_the_intact_model() -> None:
    """A chain of two stages under a graph with a model, its second device crashing and
    recovering: its requests fail then (a chain has nothing to lose and still answer),
    and every answer is the intact model's."""
    from tests.test_graph_chain import as_graphs

    raw = as_graphs(chain([0.01, 0.01], horizon="60s"))
    raw["devices"]["d1"] = {"failure": {"ttf": det("5s"), "ttr": det("2s")}}
    raw["graphs"]["p"]["accuracy"] = {"model": MODEL}
    src, sample, right = scored(simulate(raw, 0))
    answered = src.status <= 1
    assert answered.sum() > 500 and (~answered).sum() > 50
    np.testing.assert_array_equal(right, answered & table()[sample])
