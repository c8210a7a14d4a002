"""The analytic model of one scenario, state by state: flows, stations, sojourns.

For a service state (the set of components down) each source that can be served
becomes a flow through the link media and devices its stages' strategies choose
(:meth:`sim.strategies.base.Strategy.choose`: the same decision the run's runtime
objects make, asked of the same strategy), with shadow flows for the copies a
strategy sends elsewhere; the stations' loads and variabilities are then iterated to
a fixed point and each flow's latency law follows.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from analysis.analytic.graphs import Dataflow
from analysis.analytic.network import Flow, Sojourn, StateResult, Station, Visit
from analysis.analytic.stations import (
    carry_variability,
    convolve,
    finite,
    mean_wait,
    offer,
    retransmissions_of,
)
from analysis.availability import components
from analysis.queueing import Retransmissions, wait_variance
from sim.costs import stage_cost
from sim.routes import route, topology
from sim.servable import servable
from sim.spec import Periodic, Poisson, Scenario, SourceSpec
from sim.strategies import candidates, strategy


class Analyzer:
    """The analytic model of one resolved scenario."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.graph = topology(list(s.devices), s.links)
        self.parts = components(s)
        self._hops: dict[int, Retransmissions | None] = {}
        self._undetected: dict[tuple[str, tuple[float, float], float], float] = {}
        self.dataflow = Dataflow(self)  # the graph sources

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
        up_graph = self.up_graph(down)
        flows: list[Flow] = []
        for src in s.workload:
            if servable(s, src, down & set(s.devices), down - set(s.devices)):
                flows += self._flows(src, down, up_graph)
            elif src.at not in down:
                flows.append(self._partial(src, down, up_graph))
        flows += self.dataflow.flows(down, up_graph)
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
        self.dataflow.state(result, stations, down, up_graph)
        return result

    def up_graph(self, down: frozenset[str]) -> nx.Graph:
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
            chosen = strategy(s, src.pipeline, k)
            options = self._options(src, k, down, reach)
            target = src.at if fallback else self._choose(src, k, options)
            fallback = fallback or chosen.pins(stage, target, src.at)
            self._transfer(main, g, here, target, size)
            main.visits.append(self._visit(src, k, target))
            for other in chosen.shadows(target, options):
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
            options = self._options(src, k, down, reach)
            if not options:
                break
            flow.visits.append(self._visit(src, k, self._choose(src, k, options)))
        return flow

    def _options(self, src: SourceSpec, k: int, down: frozenset[str], reach: set[str]) -> list[str]:
        """The candidates of stage ``k`` that are up and reachable from the source."""
        names = candidates(self.s, src.pipeline, k, src.at)
        return [d for d in names if d not in down and d in reach]

    def _choose(self, src: SourceSpec, k: int, options: list[str]) -> str:
        """The device the stage's strategy sends the state's flow to."""
        stage = self.s.pipelines[src.pipeline].stages[k]

        def cost(device: str) -> float:
            return self.service(src.pipeline, k, device)[0]

        return strategy(self.s, src.pipeline, k).choose(stage, options, src.at, cost)

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
            self._hops[index] = retransmissions_of(self.s.links[index])
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
            offer(flows, stations)
            changed = carry_variability(flows, stations)
            for st in stations.values():
                if st.limit is not None:
                    before = st.queue.blocking if st.queue else 0.0
                    st.queue, st.missing = finite(st)
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
                    wait, p_wait = mean_wait(st, v)
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
                    extra, weight = convolve(
                        extra, weight, n * (v.timeout + attempt), v.retry.delivered / success
                    )
        if not math.isfinite(mean):
            var = math.inf
        return Sojourn(mean, max(var, 0.0), flow.shift, extra, weight, reach, dropped, lost)
