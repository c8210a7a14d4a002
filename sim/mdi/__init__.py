"""Model-distributed inference with prioritised sources (PA-MDI) and its baselines.

A pipeline's ``strategy`` (:mod:`sim.mdi.spec`) hands its sources' requests to the
MDI engine (:mod:`sim.mdi.engine`) instead of the pipeline's fixed stages: the
model is split into partitions (:mod:`sim.mdi.partitions`), and a task hops from
worker to worker, each deciding by the pipeline's rule (:mod:`sim.mdi.rules`) from
what it has heard of its neighbours (:mod:`sim.mdi.state`), asking before it
offloads (:mod:`sim.mdi.handshake`). :mod:`sim.mdi.allocation` is the convex
allocation problem behind the rule. See docs/pa-mdi.md.
"""

from __future__ import annotations

from sim.mdi.rules import KINDS, RULES, Rule
from sim.mdi.spec import MdiSpec

__all__ = ["KINDS", "RULES", "MdiSpec", "Rule"]
