"""Analytic evaluation of a scenario: the same questions as the simulation, in milliseconds.

For every service state (which failure-prone components are down, see
:mod:`analysis.availability`) the scenario becomes an open queueing network:
each source is a flow with its rate and arrival variability that visits, in
order, the link media its tensors cross and the devices that serve its stages
(chosen by the policy for that state). Per station:

* utilisation ρ = λ E[S] / c;
* the mean wait by Allen–Cunneen, W_q(M/M/c, Erlang C) × (c_a² + c_s²) / 2, which is
  Pollaczek–Khinchine for Poisson arrivals at one server and Erlang C for M/M/c; on a
  priority device Cobham's non-preemptive formula per class, its W₀ scaled by
  (c_a² + c_s²) / (1 + c_s²) for non-Poisson arrivals;
* arrival variability is carried through the network by Whitt's QNA: departures have
  c_d² = 1 + (1 − ρ²)(c_a² − 1) + ρ²(c_s² − 1)/√c, a flow's share p of them
  p c_d² + 1 − p, and merged flows the rate-weighted mean of theirs.

A flow's latency is the sum of its waits and services plus propagation, mean jitter
and expected retransmission delays; its variance the sum of the parts' (waits taken
as 0-or-exponential). Percentiles and deadline misses come from a mixture of gamma
distributions fitted to each (state, flow) by its mean and variance, weighted by the
state's probability and the flow's rate. Every figure says which method produced it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
from scipy import optimize, special

from analysis.availability import Component, components, states, undetected_fraction
from analysis.queueing import departure_scv, erlang_c, ggc_wait, wait_variance
from sim.costs import stage_cost
from sim.loader import candidates
from sim.routes import route, topology
from sim.servable import servable
from sim.spec import GilbertElliott, Periodic, Poisson, Scenario, SourceSpec

Figure = dict[str, Any]


def figure(value: float, method: str) -> Figure:
    return {"value": value, "method": method}


@dataclass(slots=True)
class Visit:
    station: str
    mean: float
    second: float  # E[S²]
    priority: int


@dataclass(slots=True)
class Flow:
    source: str
    rate: float
    scv: float
    visits: list[Visit] = field(default_factory=list)
    delay: float = 0.0  # propagation, jitter, retransmission waits
    delay_var: float = 0.0
    counted: bool = True  # False for the extra copies of replicated stages


@dataclass(slots=True)
class Station:
    servers: int
    priority: bool
    rate: float = 0.0
    mean: float = 0.0
    second: float = 0.0
    ca2: float = 1.0
    # priority -> [rate, Σ rate × E[S], Σ rate × E[S²]] of the flows of that class here
    classes: dict[int, list[float]] = field(default_factory=dict)

    @property
    def rho(self) -> float:
        return self.rate * self.mean / self.servers

    @property
    def cs2(self) -> float:
        return self.second / self.mean**2 - 1 if self.mean > 0 else 0.0


@dataclass(slots=True)
class StateResult:
    probability: float
    latency: dict[str, tuple[float, float]]  # source -> (mean, variance); inf when saturated
    throughput: dict[str, float]
    utilisation: dict[str, float]
    load: dict[str, float] = field(default_factory=dict)  # station -> ρ, not capped
    down: frozenset[str] = frozenset()


class Analyzer:
    """The analytic model of one resolved scenario."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.graph = topology(list(s.devices), s.links)
        self.parts = components(s)

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
        served: dict[str, bool] = {}
        for src in s.workload:
            served[src.name] = servable(s, src, down & set(s.devices), down - set(s.devices))
            if served[src.name]:
                flows += self._flows(src, down, up_graph)
            elif src.at not in down:
                flows.append(self._partial(src, down, up_graph))
        stations = self._stations(flows)
        latency: dict[str, tuple[float, float]] = {}
        throughput: dict[str, float] = {}
        for flow in flows:
            if not flow.counted:
                continue
            latency[flow.source] = self._sojourn(flow, stations)
            worst = max((stations[v.station].rho for v in flow.visits), default=0.0)
            throughput[flow.source] = flow.rate * min(1.0, 1 / worst if worst > 0 else 1.0)
        for src in s.workload:
            throughput.setdefault(src.name, 0.0)
        utilisation = {d: min(1.0, stations[d].rho) if d in stations else 0.0 for d in s.devices}
        load = {name: st.rho for name, st in stations.items()}
        return StateResult(probability, latency, throughput, utilisation, load, down)

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

    def _transfer(self, flow: Flow, g: nx.Graph, a: str, b: str, size: float) -> None:
        if a == b:
            return
        for index, frm, to in route(g, a, b):
            link = self.s.links[index]
            loss = link.loss.mean if isinstance(link.loss, GilbertElliott) else link.loss
            attempts = 1 / (1 - loss)
            if size > 0:
                medium = link.shared or f"{frm}->{to}"
                ser = size * 8 / link.bandwidth
                flow.visits.append(
                    Visit(f"medium:{medium}", ser * attempts, (ser * attempts) ** 2, 0)
                )
            jitter_mean = link.jitter.mean if link.jitter else 0.0
            flow.delay += link.latency + jitter_mean + (attempts - 1) * link.retransmit_timeout
            flow.delay_var += link.jitter.variance if link.jitter else 0.0

    def _stations(self, flows: list[Flow]) -> dict[str, Station]:
        stations: dict[str, Station] = {}
        for flow in flows:
            for v in flow.visits:
                if v.station not in stations:
                    spec = self.s.devices.get(v.station)
                    stations[v.station] = Station(
                        spec.slots if spec else 1, bool(spec and spec.discipline == "priority")
                    )
                st = stations[v.station]
                st.rate += flow.rate
                st.mean += flow.rate * v.mean
                st.second += flow.rate * v.second
                share = st.classes.setdefault(v.priority, [0.0, 0.0, 0.0])
                share[0] += flow.rate
                share[1] += flow.rate * v.mean
                share[2] += flow.rate * v.second
        for st in stations.values():
            st.mean /= st.rate
            st.second /= st.rate
        for _ in range(20):  # QNA: carry arrival variability through to a fixed point
            incoming: dict[str, float] = dict.fromkeys(stations, 0.0)
            for flow in flows:
                c = flow.scv
                for v in flow.visits:
                    st = stations[v.station]
                    incoming[v.station] += flow.rate / st.rate * c
                    p = flow.rate / st.rate
                    cd = departure_scv(min(st.rho, 0.999), st.ca2, st.cs2, st.servers)
                    c = p * cd + 1 - p
            for name, st in stations.items():
                st.ca2 = incoming[name]
        return stations

    def _sojourn(self, flow: Flow, stations: dict[str, Station]) -> tuple[float, float]:
        mean, var = flow.delay, flow.delay_var
        for v in flow.visits:
            st = stations[v.station]
            if st.rho >= 1:
                return math.inf, math.inf
            wait, p_wait = self._wait(st, v)
            mean += wait + v.mean
            var += (v.second - v.mean**2) + wait_variance(wait, p_wait)
        return mean, max(var, 0.0)

    def _wait(self, st: Station, v: Visit) -> tuple[float, float]:
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


def analyze(s: Scenario) -> dict[str, Any]:
    """Every figure of the scenario, each with the method that produced it."""
    a = Analyzer(s)
    results = [a.state(down, p) for down, p in states(a.parts)]
    covered = sum(r.probability for r in results)
    out: dict[str, Any] = {"scenario": s.name, "states": len(results)}
    if covered < 1 - 1e-12:
        out["truncated_probability"] = 1 - covered
    avail_method = (
        "independent components, all states" if len(a.parts) <= 12 else "states with ≤ 2 failures"
    )
    sources: dict[str, Any] = {}
    mixture: list[tuple[float, float, float]] = []  # weight, mean, var
    total_rate = 0.0
    ok_rate = 0.0
    for src in s.workload:
        rate, _, kind = a.arrivals(src)
        avail = sum(r.probability for r in results if src.name in r.latency)
        loss = _undetected_loss(a, src)
        parts = [(r.probability, *r.latency[src.name]) for r in results if src.name in r.latency]
        mean = _mixture_mean(parts)
        miss = None
        if src.deadline is not None:
            miss = avail - sum(p * _cdf(m, v, src.deadline) for p, m, v in parts)
        success = max(0.0, avail - loss)
        sources[src.name] = {
            "arrivals": kind,
            "availability": figure(avail, avail_method),
            "success_ratio": figure(success, "availability − CTMC undetected-failure losses"),
            "latency_mean": figure(mean, "QNA + Allen–Cunneen/Cobham, mixed over states"),
            "latency_p95": figure(_quantile(parts, 0.95), "gamma fit per state, mixture"),
            "throughput": figure(
                sum(r.probability * r.throughput[src.name] for r in results),
                "rate × served fraction",
            ),
            "deadline_miss": None
            if miss is None
            else figure(miss + (1 - avail), "gamma mixture + unavailability"),
        }
        mixture += [(p * rate, m, v) for p, m, v in parts]
        total_rate += rate
        ok_rate += rate * success
    throughput = sum(sum(r.probability * t for t in r.throughput.values()) for r in results)
    utilisation = {
        d: figure(
            sum(r.probability * r.utilisation[d] for r in results), "λ E[S] / c, mixed over states"
        )
        for d in s.devices
    }
    energy = _energy(s, utilisation, throughput)
    out.update(
        {
            "availability": figure(
                float(np.mean([v["availability"]["value"] for v in sources.values()])),
                avail_method,
            ),
            "success_ratio": figure(
                ok_rate / total_rate, "availability − CTMC undetected-failure losses"
            ),
            "throughput": figure(throughput, "rate × served fraction, capped at saturation"),
            "latency": {
                "mean": figure(
                    _mixture_mean(mixture), "QNA + Allen–Cunneen/Cobham, mixed over states"
                ),
                "p50": figure(_quantile(mixture, 0.50), "gamma fit per state and flow, mixture"),
                "p95": figure(_quantile(mixture, 0.95), "gamma fit per state and flow, mixture"),
                "p99": figure(_quantile(mixture, 0.99), "gamma fit per state and flow, mixture"),
            },
            "energy_per_inference": figure(energy, "Σ power(utilisation) / throughput"),
            "utilisation": utilisation,
            "components": {c.name: figure(c.availability, c.method) for c in a.parts},
            "sources": sources,
        }
    )
    return out


def offered_load(s: Scenario) -> dict[str, float]:
    """Offered load ρ = λ E[S] / c of every station, not capped at 1.

    λ and E[S] come from the same traffic equations as :func:`analyze` (a lossy hop's
    work counts every attempt). Devices are keyed by name, links by their name
    ``a-b`` (the busier direction, or their shared medium). A component that can fail
    is averaged over the service states in which it is up, weighted by probability:
    the load it carries while it is up. ρ ≥ 1 means the station cannot keep up.
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
    """Requests sent to a primary that is down but not yet declared down are lost."""
    s = a.s
    loss = 0.0
    for k, stage in enumerate(s.pipelines[src.pipeline].stages):
        policy = s.policy(src.pipeline, k)
        if policy.policy not in ("failover", "local_fallback", "repartition"):
            continue
        part = next((c for c in a.parts if c.name == stage.on), None)
        if part is None:
            continue
        detection = (policy.misses + 0.5) * policy.heartbeat
        loss += undetected_fraction(part, detection)
    return loss


def _energy(s: Scenario, utilisation: dict[str, Figure], throughput: float) -> float:
    total = 0.0
    for name, d in s.devices.items():
        if d.power_idle is None or d.power_busy is None:
            return math.nan
        u = utilisation[name]["value"]
        total += d.power_idle * (1 - u) + d.power_busy * u
    return total / throughput if throughput > 0 else math.nan


def _cdf(mean: float, var: float, x: float) -> float:
    return float(_mixture_cdf(np.array([1.0]), np.array([mean]), np.array([var]), x))


def _mixture_cdf(w: np.ndarray, mean: np.ndarray, var: np.ndarray, x: float) -> float:
    """P(latency ≤ x) of a weighted mixture of gamma fits (point masses where var ≈ 0)."""
    point = var <= 1e-18 * np.maximum(mean, 1e-300) ** 2
    out = np.where(point, (x >= mean).astype(float), 0.0)
    spread = ~point & np.isfinite(mean)
    if spread.any():
        shape = mean[spread] ** 2 / var[spread]
        out[spread] = special.gammainc(shape, x * mean[spread] / var[spread])
    return float(np.dot(w, out) / w.sum())


def _mixture_mean(parts: Iterable[tuple[float, float, float]]) -> float:
    parts = list(parts)
    weight = sum(w for w, _, _ in parts)
    return sum(w * m for w, m, _ in parts) / weight if weight else math.nan


def _quantile(parts: Iterable[tuple[float, float, float]], q: float) -> float:
    rows = np.array([p for p in parts if p[0] > 0], dtype=float).reshape(-1, 3)
    if not len(rows):
        return math.nan
    w, mean, var = rows.T
    if not np.isfinite(mean).all():
        return math.inf

    def gap(x: float) -> float:
        return _mixture_cdf(w, mean, var, x) - q

    if gap(0.0) >= 0:
        return 0.0
    points = np.sort(mean)
    for m in points:  # a step of a point mass may straddle q
        if gap(m) >= 0 and gap(m * (1 - 1e-12)) < 0:
            return float(m)
    hi = float(np.max(mean + 10 * np.sqrt(var))) + 1e-9
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-10))


__all__ = ["Analyzer", "Component", "analyze", "offered_load"]
