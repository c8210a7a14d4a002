"""``for_each`` templates: entries written once for many, expanded before validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim import document
from sim.loader import ScenarioError, load
from sim.templates import MAX_ENTRIES, expand
from tests.helpers import ROOT, base, load_dict

SCALE = ROOT / "scenarios" / "edge_prune" / "scale_128.yaml"


def _written_out(template: dict[str, Any]) -> dict[str, Any]:
    """scale_128 as it was before templates: every endpoint, link, pipeline and camera."""
    out = {k: v for k, v in template.items() if k not in ("devices", "links", "pipelines")}
    server = template["devices"]["s{k}"]
    server = {k: v for k, v in server.items() if k != "for_each"}
    out["devices"] = {"switch": {}, "s1": server, "s2": server}
    out["devices"] |= {f"e{i}": {"type": "rpi4"} for i in range(128)}
    out["links"] = [
        {"ends": ["switch", f"s{k}"], "bandwidth": "10Gbps", "latency": "0.1ms"} for k in (1, 2)
    ] + [
        {"ends": [f"e{i}", "switch"], "bandwidth": "941Mbps", "latency": "0.5ms"}
        for i in range(128)
    ]
    out["pipelines"] = {
        f"p{i}": {
            "stages": [
                {"layers": ["front_dw", "front_conv"], "on": f"e{i}",
                 "fault_tolerance": {"policy": "none"}},
                {"layers": ["back_dw", "classifier"], "on": "s1" if i < 64 else "s2",
                 "standby": ["s2" if i < 64 else "s1"]},
            ]
        }
        for i in range(128)
    }  # fmt: skip
    out["workload"] = [
        {"name": f"cam{i}", "at": f"e{i}", "pipeline": f"p{i}", "deadline": "200ms",
         "arrivals": {"kind": "periodic", "rate": "2/s", "offset": f"{3.9 * i:.12g}ms"}}
        for i in range(128)
    ]  # fmt: skip
    return out


def test_the_128_endpoint_scenario_is_its_written_out_form() -> None:
    """The templated scale_128 expands to exactly the 128-endpoint document, entry for entry
    and in order, and loads to the same scenario."""
    raw = document.read(SCALE)
    assert len(SCALE.read_text().splitlines()) < 60
    full = _written_out(raw)
    assert expand(raw, "x") == full
    assert load(SCALE).model_dump() == load_dict(full).model_dump()


def test_values_keys_and_lists() -> None:
    raw = {
        "a{i}-{j}": {"n": "{i * 10 + j}", "s": "x{i / 2}y", "l": ["{j}", "{{lit}}"],
                     "for_each": {"i": "1..2", "j": [5, 6]}},
        "keep": {"for_each": ["d1", "d2"], "name": "{not a template}"},
    }  # fmt: skip
    out = expand(raw, "x")
    assert list(out) == ["a1-5", "a1-6", "a2-5", "a2-6", "keep"]
    assert out["a2-6"] == {"n": 26, "s": "x1y", "l": [6, "{lit}"]}
    assert out["a1-5"]["s"] == "x0.5y"
    assert out["keep"] == raw["keep"]  # a list for_each is a graph source's, not a template


def test_nested_templates_see_the_outer_variables() -> None:
    raw = {"xs": [{"row": "{i}", "cells": [{"v": "{i * j}", "for_each": {"j": "0..1"}}],
                   "for_each": {"i": "2..3"}}]}  # fmt: skip
    assert expand(raw, "x") == {
        "xs": [{"row": 2, "cells": [{"v": 0}, {"v": 2}]}, {"row": 3, "cells": [{"v": 0}, {"v": 3}]}]
    }


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        ({"on": "{k}", "for_each": {"i": "0..1"}},
         "t.yaml: devices.d{i}.on: {k}: unknown variable 'k' (known: i) (got '{k}')"),
        ({"for_each": {"i": "3..1"}},
         "t.yaml: devices.d{i}.for_each: i: range '3..1' is empty (write A..B with A <= B)"),
        ({"for_each": {"i": "0..9999999"}},
         f"t.yaml: devices.d{{i}}.for_each: i: range '0..9999999' has more than {MAX_ENTRIES} "
         "values"),
        ({"for_each": {"i": 3}},
         "t.yaml: devices.d{i}.for_each: i: give a non-empty list or a range A..B (got 3)"),
        ({"on": "{i / 0}", "for_each": {"i": [1]}},
         "t.yaml: devices.d{i}.on: {i / 0} divides by zero (got '{i / 0}')"),
        ({"on": "{__import__('os')}", "for_each": {"i": [1]}},
         "t.yaml: devices.d{i}.on: {__import__('os')}: only numbers, variables and "
         "+ - * / // % are allowed (got \"{__import__('os')}\")"),
    ],
)  # fmt: skip
def test_a_wrong_template_is_named(entry: dict[str, Any], line: str) -> None:
    with pytest.raises(ScenarioError) as info:
        expand({"devices": {"d{i}": entry}}, "t.yaml")
    assert str(info.value).splitlines() == [line]


def test_a_key_made_twice_is_an_error() -> None:
    with pytest.raises(ScenarioError) as info:
        expand({"devices": {"d{i // 2}": {"for_each": {"i": "0..1"}}}}, "t.yaml")
    assert str(info.value) == "t.yaml: devices.d{i // 2}: the template makes the key 'd0' twice"


def test_too_many_entries_is_an_error_not_a_hang() -> None:
    raw = {"links": [{"for_each": {"i": "0..999", "j": "0..999"}}]}
    with pytest.raises(ScenarioError, match=f"expands past {MAX_ENTRIES} entries"):
        expand(raw, "t.yaml")


def test_the_cli_names_a_wrong_template_and_exits_2(tmp_path: Path) -> None:
    raw = base()
    raw["devices"] = {"dev": {}, "e{i}": {"type": "rpi4", "for_each": {"i": "0..x"}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = subprocess.run(
        [sys.executable, "-m", "sim", "validate", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "devices.e{i}.for_each: i: give a non-empty list or a range A..B (got '0..x')" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
