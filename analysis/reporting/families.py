"""The figure families a report draws, in page order.

Each family (:data:`analysis.reporting.figure.Family`) draws only what its data allows,
so one list serves every kind of results folder: a run's folder has no sweep table and
a sweep's no requests. A new figure is a function added here.
"""

from __future__ import annotations

from analysis.reporting import accuracy, comparisons, faults, graphs, latency, resources, sweeps
from analysis.reporting.figure import Family

FAMILIES: tuple[Family, ...] = (
    latency.distribution,
    faults.latency_over_time,
    faults.states,
    accuracy.inside_outside,
    accuracy.over_time,
    resources.utilisation,
    resources.energy,
    resources.throughput,
    latency.priorities,
    graphs.actors,
    comparisons.overhead,
    comparisons.baseline,
    comparisons.analytic,
    comparisons.hardware,
    comparisons.hardware_latency,
    sweeps.against_factors,
    sweeps.heat_maps,
    sweeps.accuracy_vs_failures,
)
