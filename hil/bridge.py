"""The host bridge: run a scenario in real time with some devices real.

Every stage placed on a bound device runs on that device's agent: its partition (the
model's layers of the stage, extracted from the zoo or ONNX model) is loaded at start,
and each request sends a real input tensor of the partition's shape and waits for the
real answer. The call is made from a worker thread per agent while the SimPy process
polls for it, so the real-time clock never stalls; the environment is
``simpy.rt.RealtimeEnvironment`` in strict mode, which fails loudly if the host falls
more than a second behind. The call crosses the real link both ways, so the simulated
hops to and from a bound device are left out of its route. Everything else stays
simulated. A scheduled failure of a bound device crashes its agent for real (it must run
with ``--allow-faults``); the simulator learns of it only through real heartbeats, so the
scenario's policy reacts with a measured detection delay.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Generator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnx.utils
import simpy
import simpy.rt

from hil.client import AgentClient, HilError, Stamps
from models.profile import profile
from sim.journey import RealFailure
from sim.records import Replication
from sim.spec import Scenario
from sim.streams import Streams
from sim.world import World

POLL = 0.0005  # seconds between looks at a pending real call


def parse_bindings(texts: list[str], scenario: Scenario) -> dict[str, str]:
    """``--bind DEVICE=URL`` options as a mapping; ValueError naming a bad one."""
    out = {}
    for text in texts:
        device, sep, url = text.partition("=")
        if not sep or not url:
            raise ValueError(f"--bind: expected DEVICE=URL (got {text!r})")
        if device not in scenario.devices:
            known = ", ".join(sorted(scenario.devices))
            raise ValueError(f"--bind: unknown device {device!r} (known: {known})")
        out[device] = url
    return out


def model_graph(s: Scenario) -> onnx.ModelProto:
    """The ONNX graph the scenario's layer table came from."""
    from models.zoo import load_source

    table = s.table
    if table is None or not table.source:
        raise ValueError("hardware in the loop needs a zoo or ONNX model, not a layer table")
    return load_source(table.source)


@dataclass(slots=True)
class BoundStage:
    device: str
    model_id: str
    feeds: dict[str, np.ndarray]
    partition: bytes  # to load again on a restarted agent
    stamps: list[Stamps] = field(default_factory=list)


class Bridge:
    """Agents connected, partitions loaded, and the real stages ready to run."""

    def __init__(self, s: Scenario, bindings: Mapping[str, str], token: str | None = None) -> None:
        self.s = s
        graph = model_graph(s)
        shapes = {layer.name: layer.output_shape for layer in profile(graph).layers}
        inputs = {i.name: i for i in graph.graph.input}
        extractor = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(graph))
        self.urls, self.token = dict(bindings), token
        self.clients = {d: AgentClient.connect(url, token) for d, url in bindings.items()}
        self.reconnects: list[tuple[str, bool]] = []  # (device, whether it had restarted)
        self.pools = {d: ThreadPoolExecutor(1, thread_name_prefix=f"hil-{d}") for d in bindings}
        self.stages: dict[tuple[str, int], BoundStage] = {}
        self.injections = [f for f in s.failures if f.target in bindings]
        self.injected_at: dict[str, float] = {}
        self.dead: set[str] = set()
        self.scenario = s.model_copy(
            update={"failures": tuple(f for f in s.failures if f.target not in bindings)}
        )
        table = s.table
        assert table is not None
        rng = np.random.default_rng(s.seed)
        for pname, pipeline in s.pipelines.items():
            for k, stage in enumerate(pipeline.stages):
                if stage.on not in bindings:
                    continue
                span = stage.layer_range(table)
                names = list(inputs) if span.start == 0 else [table.layers[span.start - 1].name]
                part = extractor.extract_model(names, [table.layers[span.stop - 1].name])
                data = part.SerializeToString()
                model_id = self.clients[stage.on].load(data, f"{pname}.{k}")
                feeds = {n: _tensor(rng, n, inputs, shapes) for n in names}
                self.stages[(pname, k)] = BoundStage(stage.on, model_id, feeds, data)

    def services(self) -> dict[tuple[str, int], Any]:
        return {key: self._service(key) for key in self.stages}

    def _service(self, key: tuple[str, int]) -> Any:
        bound = self.stages[key]

        def run(env: simpy.Environment) -> Generator[simpy.Event, Any, float]:
            if bound.device in self.dead:
                raise RealFailure(f"{self.urls[bound.device]}: not connected")
            client, pool = self.clients[bound.device], self.pools[bound.device]
            future = pool.submit(client.infer, bound.model_id, bound.feeds)
            while not future.done():
                yield env.timeout(POLL)
            try:
                _, stamps = future.result()
            except HilError as exc:
                self.dead.add(bound.device)  # later calls fail fast; the probe reconnects
                raise RealFailure(str(exc)) from None
            bound.stamps.append(stamps)
            return stamps.compute

        return run

    def warm_up(self, runs: int = 5) -> dict[tuple[str, int], float]:
        """A few calls per stage; the median time each spends outside the device's compute."""
        out = {}
        for key, bound in self.stages.items():
            client, pool = self.clients[bound.device], self.pools[bound.device]
            gaps = []
            for _ in range(runs):  # the same worker thread and polling as a real run
                future = pool.submit(client.infer, bound.model_id, bound.feeds)
                while not future.done():
                    time.sleep(POLL)
                _, stamps = future.result()
                gaps.append(stamps.round_trip - stamps.compute)
            out[key] = statistics.median(gaps)
        return out

    def probe(self, device: str, timeout: float) -> Any:
        """A liveness check for the simulator's detector: a real heartbeat, queued behind
        any inference in flight on the same connection."""

        def alive() -> bool:
            if device in self.dead and not self._reconnect(device, timeout):
                return False
            client, pool = self.clients[device], self.pools[device]
            try:
                pool.submit(client.heartbeat, timeout).result(timeout + 0.5)
            except Exception:  # any failure to answer is a missed beat
                self.dead.add(device)
                return False
            return True

        return alive

    def _reconnect(self, device: str, timeout: float) -> bool:
        """Try the agent again; if its nonce changed it restarted: load its partitions again."""
        try:
            client = AgentClient.connect(self.urls[device], self.token, timeout=max(timeout, 1.0))
        except HilError:
            return False
        restarted = client.device_nonce != self.clients[device].info.get("nonce")
        try:
            for bound in self.stages.values():
                if bound.device == device:
                    bound.model_id = client.load(bound.partition, bound.model_id)
        except HilError:
            return False
        self.clients[device] = client
        self.pools[device] = ThreadPoolExecutor(1, thread_name_prefix=f"hil-{device}")
        self.dead.discard(device)
        self.reconnects.append((device, restarted))
        return True

    def run(self, seed: int | None = None) -> Replication:
        """One real-time replication of the scenario."""
        env = simpy.rt.RealtimeEnvironment(factor=1.0, strict=True)
        s = self.scenario
        world = World(s, Streams(s.seed if seed is None else seed, 0), env, self.services())
        self.world = world
        if world.resilience is not None:
            heartbeat = s.fault_tolerance.heartbeat
            for device in self.clients:
                world.devices[device].probe = self.probe(device, heartbeat / 2)
        for injection in self.injections:
            env.process(self._inject(env, injection.target, injection.at))
        try:
            return world.run()
        finally:
            for pool in self.pools.values():
                pool.shutdown(wait=True)
            self.pools = {d: ThreadPoolExecutor(1) for d in self.clients}

    def _inject(
        self, env: simpy.Environment, device: str, at: float
    ) -> Generator[simpy.Event, Any, None]:
        """A scheduled failure of a bound device is a real crash of its agent."""
        yield env.timeout(at)
        self.injected_at[device] = env.now
        with contextlib.suppress(Exception):  # the agent may already be gone
            self.pools[device].submit(self.clients[device].fault, "crash").result(5)

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=False)
        for client in self.clients.values():
            with contextlib.suppress(Exception):  # a crashed agent cannot say goodbye
                client.close()


def _tensor(
    rng: np.random.Generator, name: str, inputs: dict[str, Any], shapes: dict[str, tuple[int, ...]]
) -> np.ndarray:
    if name in inputs:
        t = inputs[name].type.tensor_type
        shape = tuple(d.dim_value for d in t.shape.dim)
        if t.elem_type == onnx.TensorProto.INT64:
            return rng.integers(0, 1000, shape).astype(np.int64)
        return rng.standard_normal(shape).astype(np.float32)
    return rng.standard_normal(shapes[name]).astype(np.float32)
