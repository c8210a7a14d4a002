"""What a stage costs on a device: its measured profile, or the roofline cost model.

A device with a ``profile:`` (from ``edgesim model profile`` or a hardware calibration)
runs a stage in the sum of its layers' measured medians plus the runtime's overhead per
kernel; any other device by the roofline of :mod:`models.cost`. Noise and the stage's
own ``service`` distribution are applied by the callers.
"""

from __future__ import annotations

from sim.spec import Scenario


def stage_cost(s: Scenario, pipeline: str, k: int, device: str) -> float | None:
    """Seconds to run stage ``k`` of ``pipeline`` on ``device``; None if it cannot be costed."""
    if s.table is None:
        return None
    return span_cost(s, s.pipelines[pipeline].stages[k].layer_range(s.table), device)


def span_cost(s: Scenario, span: range, device: str) -> float | None:
    """Seconds to run the model's layers ``span`` on ``device`` (its profile, or the
    roofline); 0 for no layers, None if the device cannot be costed."""
    model = s.table
    if model is None or not span:
        return 0.0
    spec = s.devices[device]
    measured = spec.measured([model.layers[i].name for i in span])
    if measured is not None:
        return measured
    compute = spec.compute()
    if compute is None:
        return None
    layers = model.cost_layers()
    before = model.input_bytes if span.start == 0 else layers[span.start - 1].output_bytes
    return compute.run_time(layers[span.start : span.stop], before)
