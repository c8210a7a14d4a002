"""Variants of a scenario for comparisons under common random numbers.

Because every random stream is named after its component, a variant that
keeps the sources and the stages' primary devices sees exactly the same
arrivals and primary service draws as the original: differences between the
two runs are the policy's doing, not sampling noise. Each variant is validated and
checked like a scenario file.
"""

from __future__ import annotations

from sim.loader import revised
from sim.spec import FaultToleranceSpec, Scenario


def fault_free(scenario: Scenario) -> Scenario:
    """The scenario with every failure model and scheduled failure removed."""
    devices = {n: d.model_copy(update={"failure": None}) for n, d in scenario.devices.items()}
    links = tuple(link.model_copy(update={"failure": None}) for link in scenario.links)
    return revised(
        scenario, f"{scenario.name} (fault-free)", devices=devices, links=links, failures=()
    )


def without_policy(scenario: Scenario) -> Scenario:
    """The non-redundant deployment: policy none, no standby or replicas, and none of the
    devices (nor their links) that were there only as standby or replicas."""
    none = FaultToleranceSpec()
    pipelines = {
        name: p.model_copy(
            update={
                "fault_tolerance": None,
                "stages": tuple(
                    st.model_copy(update={"fault_tolerance": None, "standby": (), "replicas": ()})
                    for st in p.stages
                ),
            }
        )
        for name, p in scenario.pipelines.items()
    }
    used = {st.on for p in pipelines.values() for st in p.stages}
    used |= {src.at for src in scenario.workload}
    devices = {n: d for n, d in scenario.devices.items() if n in used}
    links = tuple(link for link in scenario.links if set(link.ends) <= used)
    return revised(
        scenario,
        f"{scenario.name} (without its policy)",
        fault_tolerance=none,
        pipelines=pipelines,
        devices=devices,
        links=links,
    )
