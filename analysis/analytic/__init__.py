"""Analytic evaluation of a scenario: the same questions as the simulation, in milliseconds.

For every service state (which failure-prone components are down, see
:mod:`analysis.availability`) the scenario becomes an open queueing network:
each source is a flow with its rate and arrival variability that visits, in
order, the link media its tensors cross and the devices that serve its stages
(chosen by the policy for that state). Per station:

* offered load ρ = λ E[S] / c, λ counting every transmission attempt on a medium and
  only the requests that got past earlier drops and failed transfers;
* the mean wait by Allen–Cunneen, W_q(M/M/c, Erlang C) × (c_a² + c_s²) / 2, which is
  Pollaczek–Khinchine for Poisson arrivals at one server and Erlang C for M/M/c; on a
  priority device Cobham's non-preemptive formula per class, its W₀ scaled by
  (c_a² + c_s²) / (1 + c_s²) for non-Poisson arrivals;
* a device with a ``queue_limit`` is M/M/c/K (exact) or M/G/1/K (the embedded Markov
  chain with the service's two-moment gamma law): it drops the blocking fraction
  and waits are those of the accepted requests;
* arrival variability is carried through the network by Whitt's QNA (see
  :func:`analysis.queueing.departure_scv`).

A lossy hop delivers a transfer after N retransmissions, N at most ``max_retransmits``
(:mod:`analysis.queueing`); each adds the retransmit timeout and one more wait and
serialisation on the medium. A flow's latency is a deterministic shift (propagation),
plus a discrete law of retransmission delays, plus a continuous part (waits, services,
jitter) fitted by a gamma law of its mean and variance (waits taken as
0-or-exponential). Percentiles and deadline misses come from the mixture of these over
(state, flow, retransmissions), weighted by probability and delivered rate. Every figure
says which method produced it, and a figure no method here covers says which feature
is not modelled instead of a number computed as if the feature were absent
(:mod:`analysis.coverage`).
"""

from __future__ import annotations

from analysis.analytic.analyzer import Analyzer
from analysis.analytic.figures import analyze, offered_load
from analysis.analytic.network import Figure, figure
from analysis.availability import Component

__all__ = ["Analyzer", "Component", "Figure", "analyze", "figure", "offered_load"]
