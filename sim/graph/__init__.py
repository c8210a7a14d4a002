"""Dataflow graphs: Edge-PRUNE's model of computation, the one engine every source runs on.

A graph is a DAG of actors, each bound to a device (or to the source's own device,
``$source``), doing work (a layer range of the model, a ``service`` distribution, or
nothing: a router), with a bounded input FIFO per incoming edge. Edges carry the
producer's output bytes over the route between the two devices; joins fire on
``all`` inputs, the ``first`` one, or ``k_of_n``; an actor may let a request leave
the graph early with an exit probability.

* :mod:`sim.graph.spec`: the ``graphs:`` key of a scenario (pydantic, input only);
* :mod:`sim.graph.expand`: specs (and pipelines, as chains) to resolved graphs;
* :mod:`sim.graph.checks`: the design rules, checked before running;
* :mod:`sim.graph.log`: the event log, the graph engine's record, and per-actor figures;
* :mod:`sim.graph.tokens`: FIFOs, joins and requests at run time;
* :mod:`sim.graph.samplers`: service times and exit draws;
* :mod:`sim.graph.engine`: the SimPy processes: sources, transfers, firings, results;
* :mod:`sim.graph.chain`: the fast path of chains (every ``pipelines:`` source, and
  graphs written as chains), one walk per request;
* :mod:`sim.graph.chainlog`: a chain graph's log, kept as stamps, expanded in blocks;
* :mod:`sim.graph.strategic`: chains under fault-tolerance strategies.

docs/graphs.md describes the format and the engine's semantics.
"""

import sim.spec  # noqa: F401  (first: the scenario's specs, which the graph specs build on)
