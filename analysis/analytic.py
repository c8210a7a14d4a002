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

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from analysis.availability import Component, components, states, undetected_fraction
from analysis.coverage import Unmodelled, unmodelled
from analysis.mixture import Part, mixture_cdf, mixture_mean, quantile
from analysis.queueing import (
    FiniteQueue,
    Retransmissions,
    bernoulli_retransmissions,
    departure_scv,
    erlang_c,
    ggc_wait,
    markov_retransmissions,
    mg1k,
    mmck,
    wait_variance,
)
from sim.checks import candidates
from sim.costs import stage_cost
from sim.routes import route, topology
from sim.servable import servable
from sim.spec import GilbertElliott, LinkSpec, Periodic, Poisson, Scenario, SourceSpec

Figure = dict[str, Any]

MMCK_LIMIT = 1_000_000  # largest capacity solved as M/M/c/K
MG1K_LIMIT = 20_000  # largest capacity solved as M/G/1/K (quadratic in K)


def figure(value: float | None, method: str, missing: str | None = None) -> Figure:
    """A figure and its method; with ``missing``, no value and the feature not modelled."""
    if missing is not None:
        return {"value": None, "method": f"not modelled: {missing}", "not_modelled": missing}
    return {"value": value, "method": method}


@dataclass(slots=True)
class Visit:
    """One station on a flow's path; ``station`` is empty for a lossy hop without a medium."""

    station: str
    mean: float  # per attempt
    second: float  # E[S²]
    priority: int
    retry: Retransmissions | None = None
    timeout: float = 0.0
    reach: float = 1.0  # fraction of the flow's requests that get here (set by _offer)

    @property
    def count(self) -> float:
        """Mean visits per request that gets here (every transmission attempt)."""
        return self.retry.attempts if self.retry else 1.0


@dataclass(slots=True)
class Flow:
    source: str
    rate: float
    scv: float
    visits: list[Visit] = field(default_factory=list)
    shift: float = 0.0  # propagation: deterministic
    delay: float = 0.0  # mean jitter
    delay_var: float = 0.0
    counted: bool = True  # False for the extra copies of replicated stages


@dataclass(slots=True)
class Station:
    servers: int
    priority: bool
    limit: int | None = None  # queue_limit: requests allowed to wait
    rate: float = 0.0  # offered arrivals (attempts on a medium)
    mean: float = 0.0
    second: float = 0.0
    ca2: float = 1.0
    queue: FiniteQueue | None = None
    missing: str | None = None  # the feature no method here covers
    # priority -> [rate, Σ rate × E[S], Σ rate × E[S²]] of the flows of that class here
    classes: dict[int, list[float]] = field(default_factory=dict)

    @property
    def rho(self) -> float:
        """Offered load, not capped."""
        return self.rate * self.mean / self.servers

    @property
    def carried(self) -> float:
        return self.queue.carried if self.queue else min(1.0, self.rho)

    @property
    def cs2(self) -> float:
        return self.second / self.mean**2 - 1 if self.mean > 0 else 0.0


@dataclass(slots=True)
class Sojourn:
    """The latency law of the delivered requests of one flow in one state."""

    mean: float  # continuous part: waits, services, jitter (inf when a station saturates)
    var: float
    shift: float  # propagation
    extra: np.ndarray  # retransmission delays …
    weight: np.ndarray  # … and their probabilities given delivery
    delivered: float  # fraction of the flow's requests that arrive
    dropped: float  # … turned away by a full queue
    lost: float  # … whose transfer ran out of retransmissions

    @property
    def total(self) -> float:
        return self.shift + self.mean + float(np.dot(self.extra, self.weight))

    def parts(self, weight: float) -> list[Part]:
        return [
            (weight * self.delivered * w, self.shift + x, self.mean, self.var)
            for x, w in zip(self.extra, self.weight, strict=True)
        ]


@dataclass(slots=True)
class StateResult:
    probability: float
    latency: dict[str, Sojourn]
    throughput: dict[str, float]
    utilisation: dict[str, float]
    load: dict[str, float] = field(default_factory=dict)  # station -> ρ, not capped
    down: frozenset[str] = frozenset()
    missing: dict[str, str] = field(default_factory=dict)  # source or device -> feature


class Analyzer:
    """The analytic model of one resolved scenario."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.graph = topology(list(s.devices), s.links)
        self.parts = components(s)
        self._hops: dict[int, Retransmissions | None] = {}
        self._undetected: dict[tuple[str, tuple[float, float], float], float] = {}

    # -- arrivals -------------------------------------------------------------

    def arrivals(self, src: SourceSpec) -> tuple[float, float, str]:
        """Rate, squared coefficient of variation of inter-arrival times, and how known."""
        a = src.arrivals
        if isinstance(a, Poisson):
            return a.rate, 1.0, "Poisson"
        if isinstance(a, Periodic):
            var = 2 * a.jitter.variance if a.jitter else 0.0  # difference of two jitters
            return a.rate, min(1.0, var * a.rate**2), "periodic"
        times = np.asarray(a.sorted_times)
        gaps = np.diff(times)
        if len(gaps) < 2 or gaps.mean() <= 0:
            return len(times) / self.s.horizon, 1.0, "trace"
        return 1 / gaps.mean(), float(gaps.var() / gaps.mean() ** 2), "trace"

    # -- one state ------------------------------------------------------------

    def state(self, down: frozenset[str], probability: float) -> StateResult:
        s = self.s
        up_graph = self._up_graph(down)
        flows: list[Flow] = []
        for src in s.workload:
            if servable(s, src, down & set(s.devices), down - set(s.devices)):
                flows += self._flows(src, down, up_graph)
            elif src.at not in down:
                flows.append(self._partial(src, down, up_graph))
        stations = self._stations(flows)
        result = StateResult(probability, {}, {}, {}, down=down)
        for flow in flows:
            if not flow.counted:
                continue
            missing = next((stations[v.station].missing for v in flow.visits
                            if v.station and stations[v.station].missing), None)  # fmt: skip
            if missing is not None:
                result.missing[flow.source] = missing
            soj = self._sojourn(flow, stations)
            result.latency[flow.source] = soj
            saturated = [stations[v.station].rho for v in flow.visits
                         if v.station and stations[v.station].queue is None]  # fmt: skip
            worst = max(saturated, default=0.0)
            cap = min(1.0, 1 / worst) if worst > 0 else 1.0
            result.throughput[flow.source] = flow.rate * soj.delivered * cap
        for src in s.workload:
            result.throughput.setdefault(src.name, 0.0)
        for d in s.devices:
            st = stations.get(d)
            result.utilisation[d] = st.carried if st else 0.0
            if st and st.missing:
                result.missing[d] = st.missing
        result.load = {name: st.rho for name, st in stations.items()}
        return result

    def _up_graph(self, down: frozenset[str]) -> nx.Graph:
        g = nx.Graph()
        g.add_nodes_from(d for d in self.s.devices if d not in down)
        for i, link in enumerate(self.s.links):
            if link.name not in down and not set(link.ends) & down:
                a, b = link.ends
                g.add_edge(a, b, index=i, weight=(link.latency, 1))
        return g

    def _flows(self, src: SourceSpec, down: frozenset[str], g: nx.Graph) -> list[Flow]:
        s = self.s
        rate, scv, _ = self.arrivals(src)
        main = Flow(src.name, rate, scv)
        extra: list[Flow] = []
        here = src.at
        size = s.table.input_bytes if s.table else 0.0
        fallback = False
        reach = nx.node_connected_component(g, src.at)
        for k, stage in enumerate(s.pipelines[src.pipeline].stages):
            policy = s.policy(src.pipeline, k).policy
            options = [
                d for d in candidates(s, src.pipeline, k, src.at) if d not in down and d in reach
            ]
            target = src.at if fallback else self._choose(src, k, options)
            if policy == "local_fallback" and target == src.at and stage.on != src.at:
                fallback = True
            self._transfer(main, g, here, target, size)
            main.visits.append(self._visit(src, k, target))
            if policy == "replicate":
                for other in options:
                    if other != target:
                        shadow = Flow(src.name, rate, scv, counted=False)
                        shadow.visits.append(self._visit(src, k, other))
                        extra.append(shadow)
            here = target
            size = self._output(src.pipeline, k)
        self._transfer(main, g, here, src.at, s.pipelines[src.pipeline].result_bytes)
        return [main, *extra]

    def _partial(self, src: SourceSpec, down: frozenset[str], g: nx.Graph) -> Flow:
        """The load of requests that cannot be served: the stages they get through first."""
        s = self.s
        rate, scv, _ = self.arrivals(src)
        flow = Flow(src.name, rate, scv, counted=False)
        reach = nx.node_connected_component(g, src.at)
        for k in range(len(s.pipelines[src.pipeline].stages)):
            options = [
                d for d in candidates(s, src.pipeline, k, src.at) if d not in down and d in reach
            ]
            if not options:
                break
            flow.visits.append(self._visit(src, k, self._choose(src, k, options)))
        return flow

    def _choose(self, src: SourceSpec, k: int, options: list[str]) -> str:
        stage = self.s.pipelines[src.pipeline].stages[k]
        policy = self.s.policy(src.pipeline, k).policy
        if stage.on in options or not options:
            return stage.on
        if policy == "repartition":
            return min(options, key=lambda d: self.service(src.pipeline, k, d)[0])
        if policy == "local_fallback":
            return src.at
        return options[0]  # failover: first standby up; replicate: first replica up

    def _output(self, pipeline: str, k: int) -> float:
        model = self.s.table
        if model is None:
            return 0.0
        span = self.s.pipelines[pipeline].stages[k].layer_range(model)
        return model.layers[span.stop - 1].output_bytes if span else 0.0

    def service(self, pipeline: str, k: int, device: str) -> tuple[float, float]:
        """Mean and second moment of stage ``k``'s service time on ``device``."""
        s = self.s
        stage = s.pipelines[pipeline].stages[k]
        if stage.service is not None:
            d = stage.service
            return d.mean, d.variance + d.mean**2
        cost = stage_cost(s, pipeline, k, device)
        assert cost is not None, "checked by the loader"
        noise = s.devices[device].service_noise
        m, v = (noise.mean, noise.variance) if noise else (1.0, 0.0)
        return cost * m, cost**2 * (v + m**2)

    def _visit(self, src: SourceSpec, k: int, device: str) -> Visit:
        mean, second = self.service(src.pipeline, k, device)
        return Visit(device, mean, second, src.priority)

    def retransmissions(self, index: int) -> Retransmissions | None:
        """The retransmission law of a transfer over link ``index``; None when lossless."""
        if index not in self._hops:
            self._hops[index] = _retransmissions(self.s.links[index])
        return self._hops[index]

    def _transfer(self, flow: Flow, g: nx.Graph, a: str, b: str, size: float) -> None:
        if a == b:
            return
        for index, frm, to in route(g, a, b):
            link = self.s.links[index]
            retry = self.retransmissions(index)
            if size > 0:
                medium = link.shared or f"{frm}->{to}"
                ser = size * 8 / link.bandwidth
                flow.visits.append(
                    Visit(f"medium:{medium}", ser, ser**2, 0, retry, link.retransmit_timeout)
                )
            elif retry is not None:
                flow.visits.append(Visit("", 0.0, 0.0, 0, retry, link.retransmit_timeout))
            flow.shift += link.latency
            flow.delay += link.jitter.mean if link.jitter else 0.0
            flow.delay_var += link.jitter.variance if link.jitter else 0.0

    def _stations(self, flows: list[Flow]) -> dict[str, Station]:
        """Offered rates (thinned by drops and failed transfers) and QNA variability,
        iterated together to a fixed point."""
        stations: dict[str, Station] = {}
        for flow in flows:
            for v in flow.visits:
                if v.station and v.station not in stations:
                    spec = self.s.devices.get(v.station)
                    stations[v.station] = Station(
                        spec.slots if spec else 1,
                        bool(spec and spec.discipline == "priority"),
                        spec.queue_limit if spec else None,
                    )
        for _ in range(50):
            _offer(flows, stations)
            changed = _carry_variability(flows, stations)
            for st in stations.values():
                if st.limit is not None:
                    before = st.queue.blocking if st.queue else 0.0
                    st.queue, st.missing = _finite(st)
                    after = st.queue.blocking if st.queue else 0.0
                    changed = max(changed, abs(after - before))
            if changed < 1e-10:
                break
        return stations

    def _sojourn(self, flow: Flow, stations: dict[str, Station]) -> Sojourn:
        mean, var = flow.delay, flow.delay_var
        extra, weight = np.zeros(1), np.ones(1)
        reach, dropped, lost = 1.0, 0.0, 0.0
        for v in flow.visits:
            attempt = 0.0  # what one more attempt costs on the medium
            if v.station:
                st = stations[v.station]
                if st.queue is None and st.rho >= 1:
                    mean = math.inf
                    break
                if st.queue is not None:
                    wait, p_wait = st.queue.wait, st.queue.p_wait
                else:
                    wait, p_wait = _wait(st, v)
                mean += wait + v.mean
                var += (v.second - v.mean**2) + wait_variance(wait, p_wait)
                attempt = wait + v.mean
                if st.queue is not None:
                    dropped += reach * st.queue.blocking
                    reach *= 1 - st.queue.blocking
            if v.retry is not None:
                success = v.retry.success
                lost += reach * (1 - success)
                reach *= success
                if success > 0:
                    n = np.arange(len(v.retry.delivered))
                    extra, weight = _convolve(
                        extra, weight, n * (v.timeout + attempt), v.retry.delivered / success
                    )
        if not math.isfinite(mean):
            var = math.inf
        return Sojourn(mean, max(var, 0.0), flow.shift, extra, weight, reach, dropped, lost)


def _retransmissions(link: LinkSpec) -> Retransmissions | None:
    loss = link.loss
    if isinstance(loss, GilbertElliott):
        step = np.array([[1 - loss.p_good_bad, loss.p_good_bad],
                         [loss.p_bad_good, 1 - loss.p_bad_good]])  # fmt: skip
        states_loss = np.array([loss.loss_good, loss.loss_bad])
        return markov_retransmissions(step, states_loss, link.max_retransmits)
    if loss > 0:
        return bernoulli_retransmissions(loss, link.max_retransmits)
    return None


def _offer(flows: list[Flow], stations: dict[str, Station]) -> None:
    """Each station's offered rate and service moments, from the flows that reach it."""
    for st in stations.values():
        st.rate = st.mean = st.second = 0.0
        st.classes = {}
    for flow in flows:
        reach = 1.0
        for v in flow.visits:
            v.reach = reach
            if v.station:
                st = stations[v.station]
                rate = flow.rate * reach * v.count
                st.rate += rate
                st.mean += rate * v.mean
                st.second += rate * v.second
                share = st.classes.setdefault(v.priority, [0.0, 0.0, 0.0])
                share[0] += rate
                share[1] += rate * v.mean
                share[2] += rate * v.second
                if st.queue is not None:
                    reach *= 1 - st.queue.blocking
            if v.retry is not None:
                reach *= v.retry.success
    for st in stations.values():
        if st.rate > 0:
            st.mean /= st.rate
            st.second /= st.rate


def _carry_variability(flows: list[Flow], stations: dict[str, Station]) -> float:
    """One QNA pass: each station's arrival c² from the flows' departures upstream."""
    incoming: dict[str, float] = dict.fromkeys(stations, 0.0)
    for flow in flows:
        c = flow.scv
        for v in flow.visits:
            if not v.station:
                continue
            st = stations[v.station]
            p = flow.rate * v.reach * v.count / st.rate if st.rate > 0 else 0.0
            incoming[v.station] += p * c
            cd = departure_scv(min(st.carried, 0.999), st.ca2, st.cs2, st.servers)
            c = p * cd + 1 - p
    changed = 0.0
    for name, st in stations.items():
        if st.rate > 0:
            changed = max(changed, abs(incoming[name] - st.ca2))
            st.ca2 = incoming[name]
    return changed


def _finite(st: Station) -> tuple[FiniteQueue | None, str | None]:
    """A queue-limited station's law, or the reason no method here covers it."""
    assert st.limit is not None
    capacity = st.servers + st.limit
    if st.rate <= 0:
        return FiniteQueue(0.0, st.mean, 0.0, 0.0, 0.0), None
    if st.priority:
        return None, "queue_limit with discipline priority"
    if abs(st.ca2 - 1) > 1e-6:
        return None, "queue_limit with non-Poisson arrivals"
    if abs(st.cs2 - 1) <= 1e-6:
        if capacity > MMCK_LIMIT:
            return None, f"queue_limit above {MMCK_LIMIT}"
        return mmck(st.rate, st.mean, st.servers, capacity), None
    if st.servers > 1:
        return None, "queue_limit with several slots and non-exponential service"
    if capacity > MG1K_LIMIT:
        return None, f"queue_limit above {MG1K_LIMIT} with non-exponential service"
    return mg1k(st.rate, st.mean, st.cs2, capacity), None


def _wait(st: Station, v: Visit) -> tuple[float, float]:
    """Mean wait and probability of waiting at a station without a queue limit."""
    offered = st.rate * st.mean
    p_wait = erlang_c(st.servers, offered)
    if not st.priority:
        return ggc_wait(st.rate, st.mean, st.cs2, st.ca2, st.servers), p_wait
    classes = st.classes  # Cobham, class by class
    w0 = sum(c[2] for c in classes.values()) / 2 / st.servers
    w0 *= (st.ca2 + st.cs2) / (1 + st.cs2)
    higher = sum(c[1] for p, c in classes.items() if p > v.priority) / st.servers
    mine = higher + classes[v.priority][1] / st.servers
    return w0 / ((1 - higher) * (1 - mine)), p_wait


def _convolve(
    extra: np.ndarray, weight: np.ndarray, more: np.ndarray, chance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The law of the sum of two independent discrete delays, atoms below 1e-12 left out."""
    sums = (extra[:, None] + more[None, :]).ravel()
    probs = (weight[:, None] * chance[None, :]).ravel()
    keep = probs > 1e-12
    values, inverse = np.unique(np.round(sums[keep], 12), return_inverse=True)
    return values, np.bincount(inverse, weights=probs[keep])


LATENCY = "QNA + Allen–Cunneen/Cobham/M/G/1/K, mixed over states"
PERCENTILE = "gamma × retransmission mixture over states"
BLOCKING = "M/M/c/K or M/G/1/K blocking"
EXHAUSTED = "P(all R + 1 attempts lost), per hop"
SUCCESS = "delivered − undetected losses (renewal)"


def analyze(s: Scenario) -> dict[str, Any]:
    """Every figure of the scenario, each with the method that produced it."""
    a = Analyzer(s)
    results = [a.state(down, p) for down, p in states(a.parts)]
    covered = sum(r.probability for r in results)
    gaps = unmodelled(s)
    out: dict[str, Any] = {"scenario": s.name, "states": len(results)}
    if covered < 1 - 1e-12:
        out["truncated_probability"] = 1 - covered
    sources = {src.name: _source(a, src, results, gaps) for src in s.workload}
    rates = {src.name: a.arrivals(src)[0] for src in s.workload}
    total = sum(rates.values())
    mixture = [part for src in s.workload for r in results if src.name in r.latency
               for part in r.latency[src.name].parts(r.probability * rates[src.name])]  # fmt: skip
    missing = {"latency": gaps.latency, "success": gaps.success, "throughput": gaps.throughput}
    for reason in (f for r in results for name, f in r.missing.items() if name in sources):
        for key in missing:
            missing[key] = missing[key] or reason

    def mean_of(key: str) -> float | None:
        values = [sources[n][key]["value"] for n in sources]
        if any(v is None for v in values):
            return None
        return float(sum(rates[n] * v for n, v in zip(sources, values, strict=True)) / total)

    throughput = sum(sum(r.probability * t for t in r.throughput.values()) for r in results)
    utilisation = {d: _utilisation(results, d, gaps.throughput) for d in s.devices}
    energy = _energy(s, utilisation, throughput)
    m = missing["latency"]
    out.update(
        {
            "availability": figure(
                float(np.mean([v["availability"]["value"] for v in sources.values()])),
                _availability_method(a.parts),
            ),
            "success_ratio": figure(mean_of("success_ratio"), SUCCESS, missing["success"]),
            "dropped": figure(mean_of("dropped"), BLOCKING, missing["success"]),
            "transfer_failed": figure(mean_of("transfer_failed"), EXHAUSTED, missing["success"]),
            "throughput": figure(
                throughput, "rate × delivered fraction, capped at saturation", missing["throughput"]
            ),
            "latency": {
                "mean": figure(mixture_mean(mixture), LATENCY, m),
                "p50": figure(quantile(mixture, 0.50), PERCENTILE, m),
                "p95": figure(quantile(mixture, 0.95), PERCENTILE, m),
                "p99": figure(quantile(mixture, 0.99), PERCENTILE, m),
            },
            "energy_per_inference": figure(
                energy, "Σ power(utilisation) / throughput", missing["throughput"]
            ),
            "utilisation": utilisation,
            "components": {c.name: figure(c.availability, c.method) for c in a.parts},
            "sources": sources,
            "neglected": gaps.neglected,
        }
    )
    return out


def _source(a: Analyzer, src: SourceSpec, results: list[StateResult], gaps: Unmodelled) -> Figure:
    """The figures of one source."""
    kind = a.arrivals(src)[2]
    served = [r for r in results if src.name in r.latency]
    avail = sum(r.probability for r in served)
    reason = next((r.missing[src.name] for r in served if src.name in r.missing), None)
    lat, ok = gaps.latency or reason, gaps.success or reason
    parts = [part for r in served for part in r.latency[src.name].parts(r.probability)]
    delivered = sum(r.probability * r.latency[src.name].delivered for r in served)
    undetected = _undetected_loss(a, src)
    miss = None
    if src.deadline is not None:
        within = sum(p[0] for p in parts) * (mixture_cdf(parts, src.deadline) if parts else 0.0)
        method = "retransmission/gamma mixture + undelivered + undetected"
        miss = figure(min(1.0, 1 - within + undetected), method, lat or ok)

    def mixed(value: Callable[[StateResult], float]) -> float:
        return sum(r.probability * value(r) for r in served)

    return {
        "arrivals": kind,
        "availability": figure(avail, _availability_method(a.parts)),
        "success_ratio": figure(max(0.0, delivered - undetected), SUCCESS, ok),
        "dropped": figure(mixed(lambda r: r.latency[src.name].dropped), BLOCKING, ok),
        "transfer_failed": figure(mixed(lambda r: r.latency[src.name].lost), EXHAUSTED, ok),
        "latency_mean": figure(mixture_mean(parts), LATENCY, lat),
        "latency_p95": figure(quantile(parts, 0.95), PERCENTILE, lat),
        "throughput": figure(
            mixed(lambda r: r.throughput[src.name]),
            "rate × delivered fraction",
            gaps.throughput or reason,
        ),
        "deadline_miss": miss,
    }


def _availability_method(parts: list[Component]) -> str:
    return "independent components, all states" if len(parts) <= 12 else "states with ≤ 2 failures"


def _utilisation(results: list[StateResult], device: str, missing: str | None) -> Figure:
    reason = missing or next((r.missing[device] for r in results if device in r.missing), None)
    value = sum(r.probability * r.utilisation[device] for r in results)
    return figure(value, "λ E[S] / c (carried), mixed over states", reason)


def offered_load(s: Scenario) -> dict[str, float]:
    """Offered load ρ = λ E[S] / c of every station, not capped at 1.

    λ and E[S] come from the same traffic equations as :func:`analyze` (a lossy hop's
    work counts every attempt). Devices are keyed by name, links by their name
    ``a-b`` (the busier direction, or their shared medium). A component that can fail
    is averaged over the service states in which it is up, weighted by probability:
    the load it carries while it is up. ρ ≥ 1 means the station cannot keep up
    (a device with a ``queue_limit`` then drops the excess).
    """
    a = Analyzer(s)
    results = [a.state(down, p) for down, p in states(a.parts)]
    out: dict[str, float] = {}
    for name in s.devices:

        def carried(r: StateResult, name: str = name) -> float:
            return r.load.get(name, 0.0)

        out[name] = _while_up(results, {name}, carried)
    for link in s.links:
        media = [f"medium:{link.shared}"] if link.shared else [
            f"medium:{link.ends[0]}->{link.ends[1]}", f"medium:{link.ends[1]}->{link.ends[0]}"
        ]  # fmt: skip

        def busiest(r: StateResult, media: list[str] = media) -> float:
            return max(r.load.get(m, 0.0) for m in media)

        out[link.name] = _while_up(results, {link.name, *link.ends}, busiest)
    return out


def _while_up(
    results: list[StateResult], needs: set[str], value: Callable[[StateResult], float]
) -> float:
    """Probability-weighted mean of ``value`` over the states in which ``needs`` are all up."""
    up = [r for r in results if not needs & r.down]
    weight = sum(r.probability for r in up)
    return sum(r.probability * value(r) for r in up) / weight if weight > 0 else 0.0


def _undetected_loss(a: Analyzer, src: SourceSpec) -> float:
    """Requests sent to a primary that is down but not yet declared down are lost,
    unless a re-send after the policy's timeout finds the failure detected or repaired."""
    s = a.s
    loss = 0.0
    for k, stage in enumerate(s.pipelines[src.pipeline].stages):
        policy = s.policy(src.pipeline, k)
        if policy.policy not in ("failover", "local_fallback", "repartition"):
            continue
        part = next((c for c in a.parts if c.name == stage.on), None)
        if part is None:
            continue
        detection = (policy.misses * policy.heartbeat, (policy.misses + 1) * policy.heartbeat)
        key = (part.name, detection, _resend_span(policy))
        if key not in a._undetected:  # the same for every source sending there
            a._undetected[key] = undetected_fraction(part, *key[1:], (s.warmup, s.horizon))
        loss += a._undetected[key]
    return loss


def _resend_span(policy: Any) -> float:
    """How long after the first attempt the last re-send goes (0 without re-sends)."""
    if policy.timeout is None:
        return 0.0
    waits = (policy.timeout + policy.backoff * 2**i for i in range(policy.max_attempts - 1))
    return float(sum(waits))


def _energy(s: Scenario, utilisation: dict[str, Figure], throughput: float) -> float:
    total = 0.0
    for name, d in s.devices.items():
        u = utilisation[name]["value"]
        if d.power_idle is None or d.power_busy is None or u is None:
            return math.nan
        total += d.power_idle * (1 - u) + d.power_busy * u
    return total / throughput if throughput > 0 else math.nan


__all__ = ["Analyzer", "Component", "analyze", "offered_load"]
