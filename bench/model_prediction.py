"""Predicting a whole model's latency on this machine, two ways, against measurement.

For each zoo CNN, with onnxruntime on one thread:

* measured: the end-to-end median latency (optimised graph, profiler off);
* (a) profile: the sum of the per-layer medians from a profiled run, plus the runtime's
  time between kernels (kernels × the overhead per kernel measured on the *other*
  models);
* (b) roofline: Σ FLOPs / rate of the layer's op class, the rates fitted on the *other*
  models' per-layer measurements (leave one out), so the model predicted never
  informs its own rates.

Targets: (a) within 10 %, (b) within 30 %. README records the table.

    python bench/model_prediction.py [--runs N]
"""

from __future__ import annotations

import argparse

from models import zoo
from models.cost import fit_rates
from models.measure import device_profile, graph_links
from models.profile import profile

MODELS = ("mobilenet_v2", "resnet18", "resnet50", "resnet56", "ssd_mobilenet_v2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    measured = {}
    for name in MODELS:
        model = zoo.load(name)
        prof = profile(model)
        nodes, ops, producers = graph_links(model)
        device = device_profile(
            model.SerializeToString(), name, nodes, 1, args.runs, ops, producers
        )
        layers = [
            (layer.op, layer.flops, device["layers"][layer.node]["median"]) for layer in prof.layers
        ]
        measured[name] = (
            device["end_to_end"]["median"],
            layers,
            device["kernels"],
            device["overhead_per_kernel"],
        )
    print("| model | measured ms | (a) profile sum ms | error | (b) roofline ms | error |")
    print("|---|---|---|---|---|---|")
    worst_a = worst_b = 0.0
    for name in MODELS:
        e2e, layers, kernels, _ = measured[name]
        overhead = sum(measured[o][3] for o in MODELS if o != name) / (len(MODELS) - 1)
        summed = sum(t for _, _, t in layers) + kernels * overhead
        others = [s for other in MODELS if other != name for s in measured[other][1]]
        rates = fit_rates(others)
        fallback = min(rates.values())
        roofline = sum(f / rates.get(op, fallback) for op, f, _ in layers if f > 0)
        ea, eb = summed / e2e - 1, roofline / e2e - 1
        worst_a, worst_b = max(worst_a, abs(ea)), max(worst_b, abs(eb))
        print(
            f"| {name} | {e2e * 1e3:.2f} | {summed * 1e3:.2f} | {ea * 100:+.1f} % | {roofline * 1e3:.2f} | {eb * 100:+.1f} % |"
        )
    print(
        f"\nworst |error|: (a) {worst_a * 100:.1f} % (target 10 %), (b) {worst_b * 100:.1f} % (target 30 %)"
    )
    if worst_a > 0.10 or worst_b > 0.30:
        raise SystemExit("prediction targets missed")


if __name__ == "__main__":
    main()
