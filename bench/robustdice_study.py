"""The RobustDiCE study: accuracy after failures, memory, energy, throughput and latency.

For 2, 4 and 8 Raspberry Pi 4 class devices on Gigabit Ethernet (a camera sends each
image; scenarios/robustdice/ has the four-device case as a file), the trained ResNet-8
is placed by plain partitioning, RobustDiCE's selective replication at several ρ, and
full replication (:mod:`models.replication`). Per configuration:

* **accuracy after each failure event**, from the damage table (every test image,
  :func:`models.accuracy.correct`): every single device down, and every pair, mean and
  worst case (with two devices, both down leave nothing to answer); a permanent failure leaves that accuracy for good, an intermittent one
  while it lasts;
* **memory** per device (convolution weights it holds; the classifier's 2.6 kB is on the
  camera), the largest over devices;
* from the simulation (``edgesim`` API, 60 s at 10 requests/s, seed 1): **latency** mean
  and p95 with nothing failed; the **accuracy** and latency with one device down for good
  from 10 s (beside the table's value); with d0 crashing and recovering (time to
  failure exponential, mean 30 s; repair mean 10 s), and with d0 and d1 doing so, the
  accuracy inside failure periods (and the pair's latency there); **energy** per inference per device (busy power × busy time,
  mean over devices; idle power is left out: at this load it dominates and is the
  same for every method); **throughput** capacity: the offered rate over the largest
  utilisation of a device or a link medium (the rate at which the busiest one
  saturates).

A second table puts four Pis on one shared 50 Mbit/s Wi-Fi medium with nothing failed
(2 requests/s), for plain, ρ = 0.5 and full replication, with gather timeouts of 20 and
500 ms.

The importance measure is checked too: per convolution, Spearman's rank correlation of
the filters' L1 norms with the measured accuracy drop of zeroing each filter alone, and
the drops of zeroing the top and the bottom quarter by L1 norm.

``python bench/robustdice_study.py`` writes the tables into docs/robustdice.md between
the ``study``, ``wifi`` and ``importance`` markers (``--print`` only prints them). It takes several minutes: each
damage is a pass over the test split (cached on disk) and each row five simulations.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.summary import summary  # noqa: E402
from models.accuracy import correct  # noqa: E402
from models.channels import convs  # noqa: E402
from models.replication import place, shares  # noqa: E402
from sim.graph.accuracy_checks import trained  # noqa: E402
from sim.loader import from_dict  # noqa: E402
from sim.run import run  # noqa: E402

MODEL = "resnet8-mnist5k-seed0-e6"
COUNTS = (2, 4, 8)
METHODS = (("plain", 0.0), ("robustdice", 0.0), ("robustdice", 0.25), ("robustdice", 0.5),
           ("robustdice", 0.75), ("full", 1.0))  # fmt: skip
RATE = 10.0
DOC = ROOT / "docs" / "robustdice.md"


ETHERNET = {"bandwidth": "1Gbps", "latency": "0.2ms"}
WIFI = {"bandwidth": "50Mbps", "latency": "2ms", "shared": "wifi"}
WIFI_RATE = 2.0


def scenario(n: int, method: str, rho: float, failures: str, link: dict[str, str] = ETHERNET,
             timeout: str = "20ms", rate: float = RATE) -> dict[str, Any]:  # fmt: skip
    """``n`` Pis and a camera, fully linked (by default at 1 Gbit/s), with the failures
    named."""
    devices = [f"d{i}" for i in range(n)]
    names = ["cam", *devices]
    spec: dict[str, Any] = {n: {"type": "rpi4"} for n in names}
    extra: dict[str, Any] = {}
    if failures == "one":
        extra["failures"] = [{"at": "10s", "target": "d0"}]
    elif failures in ("flaky", "two"):
        flaky = {"ttf": {"kind": "exponential", "mean": "30s"},
                 "ttr": {"kind": "exponential", "mean": "10s"}}  # fmt: skip
        spec["d0"] = {"type": "rpi4", "failure": flaky}
        if failures == "two":
            spec["d1"] = spec["d0"]
    return {
        "name": f"robustdice_{n}_{method}_{rho}",
        "seed": 1,
        "horizon": "60s",
        "warmup": "2s",
        "devices": spec,
        "links": [{"ends": [a, b], **link} for a, b in itertools.combinations(names, 2)],
        "graphs": {
            "g": {
                "accuracy": {"model": MODEL},
                "input_bytes": 3136,
                "sources": [
                    {"name": "cam", "at": "cam", "arrivals": {"kind": "poisson", "rate": rate}}
                ],
                "system": {
                    "kind": "robustdice",
                    "model": MODEL,
                    "devices": devices,
                    "method": method,
                    "rho": rho,
                    "timeout": timeout,
                },
            }
        },
        **extra,
    }


def table_accuracy(n: int, method: str, rho: float) -> dict[str, float]:
    """Mean and worst accuracy over every single and every pair of devices down."""
    model = trained(MODEL)
    placement = place(convs(onnx.load(model.onnx_path)), [f"d{i}" for i in range(n)], method, rho)

    def down(failed: tuple[int, ...]) -> float:
        gone = frozenset(failed)
        return float(correct(model, placement.damage(lambda _: gone)).mean())

    out = {"d0 down": down((0,))}
    for k, label in ((1, "single"), (2, "double")):
        values = [down(f) for f in itertools.combinations(range(n), k)] if k < n else [np.nan]
        out[f"{label} mean"], out[f"{label} worst"] = float(np.mean(values)), min(values)
    return out


def simulate(raw: dict[str, Any]) -> dict[str, Any]:
    s = from_dict(raw, file="study.yaml", base=ROOT)
    figures: dict[str, Any] = summary(run(s, records="summary"), s)
    return figures


def mean(cell: dict[str, Any]) -> float:
    value = cell["mean"]
    return float("nan") if value is None else float(value)


def row(n: int, method: str, rho: float) -> dict[str, Any]:
    """One line of the study: the table's accuracies, memory and the simulated figures."""
    table = convs(onnx.load(trained(MODEL).onnx_path))
    placement = place(table, [f"d{i}" for i in range(n)], method, rho)
    out: dict[str, Any] = {"devices": n, "method": method, "rho": rho}
    out |= table_accuracy(n, method, rho)
    out["memory kB"] = max(s.memory for s in shares(table, placement)) / 1e3
    calm = simulate(scenario(n, method, rho, "none"))
    out["latency ms"] = 1e3 * mean(calm["latency"]["mean"])
    out["p95 ms"] = 1e3 * mean(calm["latency"]["p95"])
    busy = [mean(d["utilisation"]) for d in calm["devices"].values()]
    media = [mean(m["utilisation"]) for m in calm["media"].values()]
    out["throughput /s"] = RATE / max(busy + media)
    per = [mean(calm["devices"][f"d{i}"]["energy_busy"]) for i in range(n)]
    out["energy mJ"] = 1e3 * float(np.mean(per)) / mean(calm["requests"]["ok"])
    one = simulate(scenario(n, method, rho, "one"))
    out["sim d0 down"] = mean(one["accuracy"]["inside"]["answered"])
    out["sim d0 down ci"] = one["accuracy"]["inside"]["answered"]["ci95"]
    out["latency d0 down ms"] = 1e3 * mean(one["faults"]["latency_inside"])
    flaky = simulate(scenario(n, method, rho, "flaky"))
    out["flaky d0 inside"] = mean(flaky["accuracy"]["inside"]["answered"])
    two = simulate(scenario(n, method, rho, "two"))
    out["flaky inside"] = mean(two["accuracy"]["inside"]["answered"])
    out["flaky latency ms"] = 1e3 * mean(two["faults"]["latency_inside"])
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| D | method | ρ | max memory kB | single down: mean / worst | double down: mean / "
            "worst | d0 down: table / simulated (95 %) | flaky d0 / flaky pair: accuracy inside | latency "
            "ms: calm / p95 / d0 down / flaky | energy mJ / inference / device | throughput /s |")  # fmt: skip
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        low, high = r["sim d0 down ci"] or (float("nan"), float("nan"))
        lines.append(
            f"| {r['devices']} | {r['method']} | {r['rho']:g} | {r['memory kB']:.1f} | "
            f"{r['single mean']:.3f} / {r['single worst']:.3f} | "
            f"{_pair(r['double mean'], r['double worst'])} | "
            f"{r['d0 down']:.3f} / {r['sim d0 down']:.3f} ({low:.3f}–{high:.3f}) | "
            f"{r['flaky d0 inside']:.3f} / {r['flaky inside']:.3f} | {r['latency ms']:.2f} / {r['p95 ms']:.2f} / "
            f"{r['latency d0 down ms']:.2f} / {r['flaky latency ms']:.2f} | "
            f"{r['energy mJ']:.3f} | {r['throughput /s']:.0f} |"
        )
    return "\n".join(lines)


def importance() -> str:
    """Per convolution, the filter L1 norm against the measured accuracy drop of zeroing
    each filter alone (Spearman's rank correlation), and the drops of zeroing the top and
    the bottom quarter of the filters by L1 norm."""
    from scipy.stats import spearmanr

    from models.accuracy import Damage

    model = trained(MODEL)
    intact = float(correct(model).mean())
    lines = ["| convolution | filters | Spearman ρ (L1, drop of one) | mean drop of one | "
             "drop, top quarter by L1 | drop, bottom quarter by L1 |", "|" + "---|" * 6]  # fmt: skip

    def drop(layer: str, channels: list[int]) -> float:
        items = [f"{layer}:{c}" for c in channels]
        return intact - float(correct(model, Damage.parse(items)).mean())

    for conv in convs(onnx.load(model.onnx_path)):
        drops = [drop(conv.name, [c]) for c in range(conv.channels)]
        rank = float(spearmanr(conv.importance, drops).statistic)
        ranked, q = conv.ranked(), conv.channels // 4
        top, bottom = drop(conv.name, ranked[:q]), drop(conv.name, ranked[-q:])
        lines.append(f"| {conv.name} | {conv.channels} | {rank:.2f} | {np.mean(drops):.4f} | "
                     f"{top:.3f} | {bottom:.3f} |")  # fmt: skip
    return "\n".join(lines)


def write(marker: str, text: str) -> None:
    """Put ``text`` between the ``marker`` comments of docs/robustdice.md."""
    doc = DOC.read_text(encoding="utf-8")
    pattern = rf"(<!-- {marker} -->\n).*?(<!-- /{marker} -->)"
    found = re.subn(pattern, lambda m: m[1] + text + "\n" + m[2], doc, flags=re.S)
    if found[1] != 1:
        raise SystemExit(f"docs/robustdice.md: no <!-- {marker} --> markers")
    DOC.write_text(found[0], "utf-8")


def wifi() -> str:
    """Four Pis on one 50 Mbit/s Wi-Fi medium, nothing failed: the exchange dominates,
    and a gather timeout shorter than it cuts slices of live devices."""
    lines = ["| method | ρ | timeout | latency ms: mean / p95 | accuracy (95 %) | "
             "throughput /s |", "|" + "---|" * 6]  # fmt: skip
    for (method, rho), timeout in itertools.product(
        (("plain", 0.0), ("robustdice", 0.5), ("full", 1.0)), ("20ms", "500ms")
    ):
        calm = simulate(scenario(4, method, rho, "none", WIFI, timeout, WIFI_RATE))
        media = [mean(m["utilisation"]) for m in calm["media"].values()]
        busy = [mean(d["utilisation"]) for d in calm["devices"].values()]
        low, high = calm["accuracy"]["answered"]["ci95"]
        lines.append(
            f"| {method} | {rho:g} | {timeout} | {1e3 * mean(calm['latency']['mean']):.1f} / "
            f"{1e3 * mean(calm['latency']['p95']):.1f} | "
            f"{mean(calm['accuracy']['answered']):.3f} ({low:.3f}–{high:.3f}) | "
            f"{WIFI_RATE / max(busy + media):.0f} |"
        )
    return "\n".join(lines)


def _pair(mean: float, worst: float) -> str:
    """Mean / worst, or a dash where no device is left to answer."""
    return "– (none left)" if np.isnan(mean) else f"{mean:.3f} / {worst:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print", action="store_true", help="print the table, write nothing")
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)))
    args = parser.parse_args()
    rows = []
    for n in (int(c) for c in args.counts.split(",")):
        for method, rho in METHODS:
            start = time.perf_counter()
            rows.append(row(n, method, rho))
            print(f"{n} {method} {rho}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    text = markdown(rows)
    print(text, file=sys.stderr)
    if not args.print:
        write("study", text)
    radio = wifi()
    print(radio, file=sys.stderr)
    if not args.print:
        write("wifi", radio)
    ranks = importance()
    print(ranks, file=sys.stderr)
    if not args.print:
        write("importance", ranks)


if __name__ == "__main__":
    main()
