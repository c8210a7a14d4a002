"""``edgesim report``: what the page holds for each kind of results folder, read back
from its HTML (the browser test, tests/test_report_browser.py, looks at it rendered).

Every folder is made by the real commands (in-process); the page is parsed with the
standard library's HTML parser: the figures it lists, the numbers it shows with the
summary paths they claim, and anything that would need the network to display.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.cli import main
from tests.helpers import ROOT, SCENARIOS
from tests.test_imports import imported

RUN_FIGURES = {"latency_distribution", "latency_over_time", "utilisation", "energy", "throughput"}


class Page(HTMLParser):
    """The page's figures (name: has an inline svg), numbers and external references."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.figures: dict[str, bool] = {}
        self.numbers: list[dict[str, str]] = []
        self.external: list[str] = []
        self.tags: set[str] = set()
        self.ids: list[str] = []
        self.references: set[str] = set()
        self._figure: str | None = None
        self._number: dict[str, str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if "id" in a:
            self.ids.append(a["id"])
        for value in a.values():
            self.references |= set(re.findall(r"url\(#([^)]+)\)", value))
        if a.get("xlink:href", "").startswith("#"):
            self.references.add(a["xlink:href"][1:])
        if tag == "figure":
            self._figure = a["data-name"]
            self.figures[self._figure] = False
        elif tag == "svg" and self._figure is not None:
            self.figures[self._figure] = True
        elif tag == "span" and a.get("class") == "num":
            self._number = {"key": a["data-key"], "scale": a["data-scale"], "text": ""}
        for name in ("src", "href", "xlink:href"):
            if a.get(name) and not a[name].startswith(("#", "data:")):
                self.external.append(a[name])

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        elif tag == "span" and self._number is not None:
            self.numbers.append(self._number)
            self._number = None

    def handle_data(self, data: str) -> None:
        if self._number is not None:
            self._number["text"] += data


def page(path: Path) -> Page:
    return Page(path.read_text(encoding="utf-8"))


def at(tree: Any, key: str) -> Any:
    for part in key.split("."):
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    return tree


def shown_as_in(p: Page, summary: dict[str, Any]) -> None:
    """Every number on the page is its summary path's value, to the figures shown."""
    assert p.numbers
    for n in p.numbers:
        expected = at(summary, n["key"]) * float(n["scale"])
        assert float(n["text"]) == pytest.approx(expected, rel=5e-4, abs=1e-12), n


def run(out: Path, scenario: str = "quickstart.yaml", *extra: str) -> Path:
    assert main(["run", str(SCENARIOS / scenario), "--out", str(out), *extra]) == 0
    return out


def report(*argv: str) -> None:
    assert main(["report", *argv, "--quiet"]) == 0


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart, 20 simulated seconds, with its report (``run --report``)."""
    return run(tmp_path_factory.mktemp("q") / "q", "quickstart.yaml", "--horizon", "20s",
               "--report")  # fmt: skip


def test_a_runs_page_is_self_contained_and_shows_summary_json(quick: Path) -> None:
    """The run's figures inline as SVG (their ids unique on the page, every reference
    to one resolved), no script or external reference, and every number on it the
    summary's."""
    text = (quick / "report.html").read_text(encoding="utf-8")
    p = Page(text)
    assert set(p.figures) == RUN_FIGURES and all(p.figures.values())
    assert p.external == [] and "script" not in p.tags and "link" not in p.tags
    assert len(set(p.ids)) == len(p.ids) and p.references <= set(p.ids)  # figures share a page
    bare = re.sub(r'xmlns(:\w+)?="[^"]*"', "", text)  # namespace names, never fetched
    assert "http://" not in bare and "https://" not in bare and "@import" not in bare
    summary = json.loads((quick / "summary.json").read_text(encoding="utf-8"))
    shown_as_in(p, summary)
    keys = {n["key"] for n in p.numbers}
    assert {"throughput.mean", "latency.p99.ci95.1", "devices.nx.utilisation.mean",
            "sources.cam1.latency_p95.mean"} <= keys  # fmt: skip
    assert "Two Pi 4 cameras" in text and "scenario.resolved.yaml" in text


def test_figures_folder_holds_each_figure_as_png_and_pdf(quick: Path, tmp_path: Path) -> None:
    """--figures: a PNG (not blank) and a PDF per figure on the page."""
    from PIL import Image

    report(str(quick), "--out", str(tmp_path / "r.html"), "--figures", str(tmp_path / "f"))
    names = set(page(tmp_path / "r.html").figures)
    assert {f.stem for f in (tmp_path / "f").glob("*.png")} == names
    assert {f.stem for f in (tmp_path / "f").glob("*.pdf")} == names
    for name in names:
        pixels = np.asarray(Image.open(tmp_path / "f" / f"{name}.png").convert("L"), dtype=float)
        assert pixels.std() > 10, name
        assert (tmp_path / "f" / f"{name}.pdf").read_bytes().startswith(b"%PDF")


def test_figures_need_their_data(tmp_path: Path) -> None:
    """No requests file: no figure drawn from requests; failures: the state chart and
    the failures table, whose numbers are the summary's; priorities: their latencies."""
    bare = run(tmp_path / "bare", "quickstart.yaml", "--horizon", "10s", "--records", "summary")
    report(str(bare))
    assert set(page(bare / "report.html").figures) == {"utilisation", "energy"}
    faulty = run(tmp_path / "pb", "edge_prune/primary_backup.yaml", "--horizon", "75s",
                 "--replications", "2", "--baseline", "none")  # fmt: skip
    report(str(faulty))
    p = page(faulty / "report.html")
    assert RUN_FIGURES | {"component_states", "overhead"} == set(p.figures)
    summary = json.loads((faulty / "summary.json").read_text(encoding="utf-8"))
    shown_as_in(p, summary)
    assert any(n["key"] == "faults.detection_delay.mean.mean" for n in p.numbers)
    classes = run(tmp_path / "prio", "reference/priority.yaml", "--horizon", "30s",
                  "--replications", "1")  # fmt: skip
    report(str(classes))
    assert "latency_by_priority" in page(classes / "report.html").figures


def test_unknown_summary_figures_are_shown(quick: Path, tmp_path: Path) -> None:
    """A figure summary.json gains later (accuracy) is a row of the summary table."""
    copy = tmp_path / "q"
    shutil.copytree(quick, copy)
    summary = json.loads((copy / "summary.json").read_text(encoding="utf-8"))
    summary["accuracy"] = {"top1": {"mean": 0.9123, "ci95": [0.9, 0.925]}, "note": "new"}
    (copy / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    report(str(copy))
    p = page(copy / "report.html")
    assert {"accuracy.top1.mean", "accuracy.top1.ci95.0"} <= {n["key"] for n in p.numbers}
    shown_as_in(p, summary)


def test_a_baseline_run_is_set_beside(quick: Path, tmp_path: Path) -> None:
    """--baseline OTHER: the headline figures of both runs side by side."""
    other = run(tmp_path / "other", "quickstart.yaml", "--horizon", "20s", "--seed", "7")
    report(str(quick), "--out", str(tmp_path / "r.html"), "--baseline", str(other))
    assert "baseline" in page(tmp_path / "r.html").figures


@pytest.mark.parametrize(
    ("sets", "factors", "heat"),
    [
        (["links.0.bandwidth=20Mbps,48.7Mbps", "workload.0.arrivals.rate=10/s,15/s"], 2, True),
        (["links.0.bandwidth=20Mbps,48.7Mbps"], 1, False),
    ],
)
def test_a_sweeps_page_draws_each_factor(
    tmp_path: Path, sets: list[str], factors: int, heat: bool
) -> None:
    """One figure per swept factor; a heat map for a grid of two numeric factors."""
    argv = ["sweep", str(SCENARIOS / "quickstart.yaml"), "--out", str(tmp_path / "s"),
            "--executor", "inprocess", "--replications", "2", "--set", "horizon=10s"]  # fmt: skip
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    report(str(tmp_path / "s"))
    names = set(page(tmp_path / "s" / "report.html").figures)
    assert len([n for n in names if n.startswith("sweep_") and n != "sweep_heat_map"]) == factors
    assert ("sweep_heat_map" in names) == heat


def test_zipped_paths_are_one_factor_and_a_hypercube_keeps_its_own(tmp_path: Path) -> None:
    """quickstart_study's zips are three factors; the Latin hypercube's two paths stay two
    factors although each of its variants has its own value of both."""
    from analysis.reporting.results import read
    from analysis.reporting.sweeps import table

    found = {}
    for name in ("quickstart_study", "lhs"):
        argv = ["sweep", str(SCENARIOS / "sweeps" / f"{name}.yaml"), "--out",
                str(tmp_path / name), "--executor", "inprocess", "--replications", "1"]  # fmt: skip
        assert main(argv) == 0
        t = table(read(tmp_path / name))
        assert t is not None
        found[name] = sorted(f.name for f in t.factors)
    assert found["quickstart_study"] == ["links.0.bandwidth (+1)",
        "pipelines.split_cam0.stages.0.layers (+3)", "workload.1.arrivals"]  # fmt: skip
    assert found["lhs"] == ["devices.nx.gflops", "workload.0.arrivals.rate"]


def test_an_analytic_comparison_file_is_a_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON of analyze --compare: its table and the simulated-over-analytic figure."""
    capsys.readouterr()
    scenario = SCENARIOS / "reference" / "deterministic.yaml"
    assert main(["analyze", str(scenario), "--compare", "--json"]) == 0
    (tmp_path / "d.json").write_text(capsys.readouterr().out, encoding="utf-8")
    report(str(tmp_path / "d.json"))
    text = (tmp_path / "d.html").read_text(encoding="utf-8")
    assert set(Page(text).figures) == {"analytic_vs_simulated"}
    assert 'id="comparison"' in text


def test_a_hardware_validation_is_a_page(tmp_path: Path) -> None:
    """A validation folder (tests/data/hil_validation: the files of one real loopback run
    of hil validate on this project's 2-core VM, profile and resolved scenario left
    out): the predicted-against-measured figures and the rows' table."""
    folder = tmp_path / "v"
    shutil.copytree(ROOT / "tests" / "data" / "hil_validation", folder)
    report(str(folder))
    text = (folder / "report.html").read_text(encoding="utf-8")
    p = Page(text)
    assert {"hardware", "hardware_latency"} <= set(p.figures)
    rows = json.loads((folder / "validation.json").read_text(encoding="utf-8"))["rows"]
    assert text.count("<tr><td>") - text.count('id="summary"') > len(rows)
    assert all(f"<td>{r['metric']}</td>" in text for r in rows)
    shown_as_in(p, json.loads((folder / "summary.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nowhere"], "nowhere: no such folder or .json file"),
        (["tests"], "tests: not a results folder (expected one of validation.json"),
        (["RUN", "--out", "page.txt"], "--out: the page must be an .html file"),
        (["RUN", "--baseline", "tests"], "tests: not a results folder"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    quick: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2, one line naming what is wrong, no traceback, no page."""
    before = sorted(quick.iterdir())
    capsys.readouterr()
    assert main(["report", *[str(quick) if a == "RUN" else a for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert sorted(quick.iterdir()) == before


def test_run_without_report_imports_no_plotting(tmp_path: Path) -> None:
    """matplotlib and jinja2 are the report's: a plain run loads neither."""
    loaded = imported("run", str(SCENARIOS / "quickstart.yaml"), "--horizon", "10s",
                      "--replications", "1", "--out", str(tmp_path / "r"))  # fmt: skip
    assert not {m for m in loaded if m.split(".")[0] in ("matplotlib", "jinja2")}


def test_state_spans_add_up_to_the_timelines_down_time_and_detection_delays(
    tmp_path: Path,
) -> None:
    """The Gantt chart's spans of a run with failures: per component, down time (both
    down states) is the time between the timeline's down and up rows, and the undetected
    part is the detectors' delays (timeline.csv's ``delay`` column)."""
    import csv

    from analysis.reporting.faults import spans
    from analysis.reporting.results import read

    out = run(tmp_path / "pb", "edge_prune/primary_backup.yaml", "--replications", "1",
              "--records", "summary")  # fmt: skip
    results = read(out)
    assert results.timeline is not None and results.summary is not None
    horizon = results.summary["horizon"]
    found = spans(results.timeline, horizon)
    with (out / "timeline.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for name in {r["component"] for r in rows}:
        mine = [r for r in rows if r["component"] == name]
        changes = [r for r in mine if r["kind"] != "detection"]
        downs = [float(r["time"]) for r in changes if r["state"] == "down"]
        ups = [float(r["time"]) for r in changes if r["state"] == "up"] + [horizon]
        down = sum(min(u for u in ups if u > d) - d for d in downs)
        delays = sum(float(r["delay"]) for r in mine
                     if r["kind"] == "detection" and r["state"] == "down")  # fmt: skip
        span = {s: sum(x.end - x.start for x in found if x.component == name and x.state == s)
                for s in ("down, undetected", "down, detected")}  # fmt: skip
        assert span["down, undetected"] + span["down, detected"] == pytest.approx(down)
        assert span["down, undetected"] == pytest.approx(delays)
    assert {s.state for s in found} == {"down, undetected", "down, detected",
                                        "up, still declared down"}  # fmt: skip


def test_a_graphs_actors_are_drawn_and_tabled(tmp_path: Path) -> None:
    """A dataflow graph: a figure of its actors and its figures in the page's table."""
    out = run(tmp_path / "g", "graphs/fork_join.yaml", "--horizon", "40s", "--replications", "1")
    report(str(out))
    p = page(out / "report.html")
    assert "graph_heads" in p.figures
    assert "graphs.heads.actors.join.wait.mean" in {n["key"] for n in p.numbers}
    shown_as_in(p, json.loads((out / "summary.json").read_text(encoding="utf-8")))


def test_analytic_percentiles_are_marked_when_the_folder_has_them(
    quick: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """analytic.json (edgesim analyze --json) in a run folder: its percentiles are
    drawn on the latency distribution, and said so in the caption."""
    copy = tmp_path / "q"
    shutil.copytree(quick, copy)
    capsys.readouterr()
    assert main(["analyze", str(SCENARIOS / "quickstart.yaml"), "--json"]) == 0
    (copy / "analytic.json").write_text(capsys.readouterr().out, encoding="utf-8")
    report(str(copy), "--figures", str(tmp_path / "f"))
    before = (quick / "report.html").read_text(encoding="utf-8")
    after = (copy / "report.html").read_text(encoding="utf-8")
    assert "crosses: analytic percentiles" in after and "crosses" not in before
    assert after.count('id="figure-latency_distribution"') == 1


def test_figures_withheld_for_an_overloaded_station_say_so(tmp_path: Path) -> None:
    """A saturated queue: its latency figures are "unstable: withheld", not numbers."""
    out = run(tmp_path / "s", "reference/saturated.yaml", "--horizon", "20s", "--force")
    report(str(out))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    withheld = [k for k, cell in summary["latency"].items() if "transient" in cell]
    text = (out / "report.html").read_text(encoding="utf-8")
    assert withheld and text.count("unstable: withheld") == len(withheld)
    shown_as_in(Page(text), summary)


def test_analyze_compare_writes_a_run_folder_with_its_analytic_figures(tmp_path: Path) -> None:
    """`analyze --compare --out DIR --report`: the simulated run's folder, analytic.json
    beside summary.json with the same comparison, and a page with the analytic marks."""
    out = tmp_path / "cmp"
    assert main(["analyze", str(SCENARIOS / "reference" / "mm1.yaml"), "--compare", "--quiet",
                 "--out", str(out), "--report", "--json"]) == 0  # fmt: skip
    analytic = json.loads((out / "analytic.json").read_text(encoding="utf-8"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    row = next(r for r in analytic["comparison"] if r["figure"] == "latency mean")
    assert row["simulated"] == summary["latency"]["mean"]["mean"]
    assert "crosses: analytic percentiles" in (out / "report.html").read_text(encoding="utf-8")


def test_analyze_out_without_compare_is_refused(tmp_path: Path) -> None:
    code = main(
        ["analyze", str(SCENARIOS / "reference" / "mm1.yaml"), "--out", str(tmp_path / "x")]
    )
    assert code == 2 and not (tmp_path / "x").exists()


def test_a_scored_run_draws_accuracy_inside_and_outside_failures(
    quick: Path, tmp_path: Path
) -> None:
    """A graph scored by a trained model: accuracy bars and accuracy over time are drawn,
    and the summary's accuracy figures are on the page as summary.json has them."""
    out = run(tmp_path / "a", "accuracy/split_channels.yaml", "--horizon", "300s",
              "--replications", "2", "--quiet")  # fmt: skip
    report(str(out))
    p = page(out / "report.html")
    assert {"accuracy_inside_outside", "accuracy_over_time"} <= set(p.figures)
    assert "accuracy.inside.answered.mean" in {n["key"] for n in p.numbers}
    shown_as_in(p, json.loads((out / "summary.json").read_text(encoding="utf-8")))
    unscored = set(page(quick / "report.html").figures)
    assert not {"accuracy_inside_outside", "accuracy_over_time"} & unscored
