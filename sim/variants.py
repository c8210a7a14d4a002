"""Variants of a scenario for comparisons under common random numbers.

Because every random stream is named after its component, a variant that
keeps the sources and the stages' primary devices sees exactly the same
arrivals and primary service draws as the original: differences between the
two runs are the policy's doing, not sampling noise.
"""

from __future__ import annotations

from sim.spec import FaultToleranceSpec, Scenario


def fault_free(scenario: Scenario) -> Scenario:
    """The scenario with every failure model and scheduled failure removed."""
    devices = {n: d.model_copy(update={"failure": None}) for n, d in scenario.devices.items()}
    links = tuple(link.model_copy(update={"failure": None}) for link in scenario.links)
    return scenario.model_copy(update={"devices": devices, "links": links, "failures": ()})


def without_policy(scenario: Scenario) -> Scenario:
    """The scenario with fault tolerance switched off: policy none, no standby, no replicas."""
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
    return scenario.model_copy(update={"fault_tolerance": none, "pipelines": pipelines})
