"""The host bridge: run a scenario in real time with some devices real.

Every stage placed on a bound device runs on that device's agent: its partition (the
model's layers of the stage, extracted from the zoo or ONNX model) is loaded at start,
and each request sends a real input tensor of the partition's shape and waits for the
real answer. The call is made from a worker thread per agent, so the real-time clock
never stalls, and the thread wakes the simulation the moment the answer is in
(:class:`WakeableRealtime`, strict ``simpy.rt.RealtimeEnvironment``, which fails loudly
if the host falls more than a second behind). The call crosses the real link both ways,
so the simulated hops to and from a bound device are left out of its route. Everything
else stays simulated.

A scheduled fault of a bound device is injected into its agent for real (it must run
with ``--allow-faults``): ``crash`` makes it exit, ``hang`` stops it answering, ``drop``
closes its link and refuses connections, ``slow`` delays each inference. The simulator
learns of it only through real heartbeats, sent asynchronously on the device's
connection and counted missed when no answer is in by the next one, and through calls
that fail or outlast the stage's ``timeout``; the scenario's policy reacts to what was
measured.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import onnx.utils
import simpy
import simpy.rt
from simpy.core import EmptySchedule, Environment, Infinity

from hil.client import AgentClient, HilError, Stamps
from models.profile import profile
from sim.journey import RealFailure
from sim.loader import revised
from sim.records import Replication
from sim.spec import InjectionSpec, Scenario
from sim.streams import Streams
from sim.world import World


class Call(simpy.Event):
    """A function running on a worker thread: succeeds with its future when it ends."""

    def __init__(self, env: simpy.Environment, future: Future[Any]) -> None:
        super().__init__(env)
        self.future = future
        self.called = env.now  # simulated time of the call
        self.submitted = time.monotonic()
        self.finished = 0.0  # host clock when the function returned


def _pass_on(event: simpy.Event, arrived: simpy.Event) -> None:
    event.succeed(arrived.value)


def _succeed(event: simpy.Event, value: Any) -> None:
    event.succeed(value)


class WakeableRealtime(simpy.rt.RealtimeEnvironment):
    """A real-time environment that worker threads can wake.

    :meth:`call` runs a function on a thread pool and returns an event that succeeds,
    with the finished future, as soon as it finishes: the waiting process resumes then,
    not at the next poll. The event's simulated time is the call's simulated time plus
    the call's duration on the host clock (submission to return), so neither the
    environment's own lateness in starting the call nor the hop back to this thread
    enters the simulated timeline. While a call is out the environment waits for it
    even with nothing else scheduled.
    """

    def __init__(self, factor: float = 1.0, strict: bool = True) -> None:
        super().__init__(factor=factor, strict=strict)
        self._inbox: queue.SimpleQueue[tuple[Call, Future[Any]]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self.outstanding = 0

    def call(self, pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> Call:
        """``fn(*args)`` on ``pool``, as an event."""
        self.outstanding += 1
        done = Call(self, pool.submit(fn, *args))
        done.future.add_done_callback(lambda f: self._post(done, f))
        return done

    def _post(self, event: Call, future: Future[Any]) -> None:  # any thread
        event.finished = time.monotonic()
        self._inbox.put((event, future))
        self._wake.set()

    def _deliver(self) -> None:
        while True:
            try:
                event, future = self._inbox.get_nowait()
            except queue.Empty:
                return
            self.outstanding -= 1
            ended = event.called + (event.finished - event.submitted) / self.factor
            arrived = self.timeout(max(0.0, ended - self.now), future)
            arrived.callbacks.append(functools.partial(_pass_on, event))

    def step(self) -> None:
        while True:
            self._deliver()
            at = self.peek()
            if at == Infinity and not self.outstanding:
                raise EmptySchedule
            due = self.real_start + (at - self.env_start) * self.factor
            now = time.monotonic()
            if self.strict and now - due > self.factor:
                raise RuntimeError(f"Simulation too slow for real time ({now - due:.3f}s).")
            if due <= now:
                break
            self._wake.wait(min(due - now, 1.0))
            self._wake.clear()
        Environment.step(self)


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
        self.pools = {d: _worker(d) for d in bindings}
        self.stages: dict[tuple[str, int], BoundStage] = {}
        self.injections = [f for f in s.failures if f.target in bindings]
        self.injected: dict[str, InjectionSpec] = {}  # device -> the fault it was given
        self.dead: set[str] = set()
        self._env: WakeableRealtime | None = None
        kept = tuple(f for f in s.failures if f.target not in bindings)
        self.scenario = revised(s, f"{s.name} (bound devices real)", failures=kept)
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

    def services(self, env: WakeableRealtime) -> dict[tuple[str, int], Any]:
        return {key: self._service(env, key) for key in self.stages}

    def _service(self, env: WakeableRealtime, key: tuple[str, int]) -> Any:
        """The stage's real call; an attempt is lost when the call fails or outlasts its
        limit (what is left of the stage's fault-tolerance ``timeout``)."""
        bound = self.stages[key]

        def run(_: simpy.Environment, limit: float | None) -> Generator[simpy.Event, Any, float]:
            device = bound.device
            if device in self.dead:
                raise RealFailure(f"{self.urls[device]}: not connected")
            client = self.clients[device]
            done = env.call(self.pools[device], client.infer, bound.model_id, bound.feeds)
            if limit is None:
                yield done
            else:
                yield done | env.timeout(limit)
            if not done.triggered:
                done.future.cancel()  # if it has not started: a late call helps no one
                raise RealFailure(f"{self.urls[device]}: no answer within {limit:g} s")
            try:
                _, stamps = done.future.result()
            except HilError as exc:
                self.dead.add(device)  # later calls fail fast; the probe reconnects
                raise RealFailure(str(exc)) from None
            bound.stamps.append(stamps)
            return float(stamps.compute)

        return run

    def warm_up(
        self, calls: int = 5, discard: int = 3, gap: float = 0.0
    ) -> dict[tuple[str, int], list[Stamps]]:
        """``discard`` warm-up calls per stage, then ``calls`` more whose stamps are kept,
        started ``gap`` seconds apart (an agent idle between requests is slower than one
        called back to back), on the device's worker thread as in a real run."""
        out = {}
        for key, bound in self.stages.items():
            client, pool = self.clients[bound.device], self.pools[bound.device]
            stamps = []
            for _ in range(discard + calls):
                start = time.monotonic()
                stamps.append(pool.submit(client.infer, bound.model_id, bound.feeds).result()[1])
                time.sleep(max(0.0, gap - (time.monotonic() - start)))
            out[key] = stamps[discard:]
        return out

    def now(self) -> float:
        """Simulated seconds into the run in progress (0 before it starts)."""
        return self._env.now if self._env is not None else 0.0

    def probe(self, env: WakeableRealtime, device: str, timeout: float) -> Any:
        """A liveness check for the simulator's detector: an event that succeeds with
        whether a real heartbeat (queued behind any inference in flight on the same
        connection) was answered within ``timeout``; a dead link is reconnected first."""

        def alive() -> bool:
            if device in self.dead and not self._reconnect(device, timeout):
                return False
            try:
                self.clients[device].heartbeat(timeout)
            except HilError:  # any failure to answer is a missed beat
                self.dead.add(device)
                return False
            return True

        def beat() -> simpy.Event:
            answered = env.event()
            done = env.call(self.pools[device], alive)
            done.callbacks.append(lambda _: _succeed(answered, _answer(done.future)))
            return answered

        return beat

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
        self.clients[device] = client  # runs on the device's worker: its pool stays
        self.dead.discard(device)
        self.reconnects.append((device, restarted))
        return True

    def run(self, seed: int | None = None) -> Replication:
        """One real-time replication of the scenario."""
        env = self._env = WakeableRealtime(factor=1.0, strict=True)
        s = self.scenario
        world = World(s, Streams(s.seed if seed is None else seed, 0), env, self.services(env))
        self.world = world
        if world.resilience is not None:
            heartbeat = s.fault_tolerance.heartbeat
            for device in self.clients:
                world.devices[device].probe = self.probe(env, device, heartbeat / 2)
        for injection in self.injections:
            env.process(self._inject(env, injection))
        try:
            return world.run()
        finally:
            for pool in self.pools.values():  # a call to a hung agent ends at its timeout
                pool.shutdown(wait=True, cancel_futures=True)
            self.pools = {d: _worker(d) for d in self.clients}

    def _inject(
        self, env: WakeableRealtime, spec: InjectionSpec
    ) -> Generator[simpy.Event, Any, None]:
        """A scheduled fault of a bound device, injected into its agent."""
        device = spec.target
        yield env.timeout(spec.at)
        self.injected[device] = spec
        if spec.mode == "slow":
            assert spec.delay is not None
            yield self._fault(env, device, "slow", spec.delay)
            if spec.duration is not None:
                yield env.timeout(spec.at + spec.duration - env.now)
                yield self._fault(env, device, "slow", 0.0)
            return
        seconds = {"crash": 0.0, "hang": 3600.0, "drop": 0.0}[spec.mode]
        yield self._fault(env, device, spec.mode, spec.duration or seconds)

    def _fault(self, env: WakeableRealtime, device: str, mode: str, seconds: float) -> simpy.Event:
        """Send the FAULT on the device's worker (behind any call in flight)."""

        def send() -> None:
            with contextlib.suppress(HilError):  # the agent may already be gone
                self.clients[device].fault(mode, seconds)

        return env.call(self.pools[device], send)

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


def _worker(device: str) -> ThreadPoolExecutor:
    """The one thread that talks to a device: calls on its connection never interleave."""
    return ThreadPoolExecutor(1, thread_name_prefix=f"hil-{device}")


def _answer(future: Future[bool]) -> bool:
    try:
        return future.result()
    except Exception:  # a probe that broke is a missed beat
        return False
