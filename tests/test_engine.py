"""The engine on tiny deterministic scenarios, where every time can be worked out by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim import Status, run
from sim.streams import Streams
from tests.helpers import arrivals, assert_conserved, base, load_dict, remote


def rows(raw: dict[str, object]) -> list[tuple[int, int, list[float]]]:
    """(id, status, stamps rounded to µs) of every finished request of the first source."""
    (rep,) = run(load_dict(raw))
    src = rep.sources[0]
    return [
        (int(i), int(st), [round(float(t), 6) for t in row if not np.isnan(t)])
        for i, st, row in zip(src.ids, src.status, src.stamps, strict=True)
    ]


def test_two_stage_event_log() -> None:
    """Input transfer, queue, service, output transfer, result return: every stamp as computed.

    1000 B over 8 kbit/s takes 1 s plus 0.5 s latency; the 500 B stage output
    0.5 s + 0.5 s; the 250 B result 0.25 s + 0.5 s.
    """
    model = {
        "input_bytes": 1000,
        "layers": [
            {"name": "a", "op": "gemm", "flops": 2e9, "output_bytes": 500},
            {"name": "b", "op": "gemm", "flops": 1e9, "output_bytes": 100},
        ],
    }
    raw = base(
        horizon="20s",
        model=model,
        devices={
            "cam": {},
            "pi": {"gflops": 1, "mem_bandwidth": 1e12},
            "srv": {"gflops": 2, "mem_bandwidth": 1e12},
        },
        links=[
            {"ends": ["cam", "pi"], "bandwidth": 8000, "latency": 0.5},
            {"ends": ["pi", "srv"], "bandwidth": 8000, "latency": 0.5},
        ],
        pipelines={
            "p": {
                "result_bytes": 250,
                "stages": [{"layers": ["a", "a"], "on": "pi"}, {"layers": ["b", "b"], "on": "srv"}],
            }
        },
        workload=[
            {
                "name": "s",
                "at": "cam",
                "pipeline": "p",
                "count": 2,
                "arrivals": {"kind": "trace", "times": [0, 1]},
            }
        ],
    )
    # arrival 0: at pi 1.5, served 1.5-3.5, at srv 4.5, served 4.5-5.0,
    # result back over two hops: 5.75, then 6.5
    # arrival 1: cam->pi medium busy until 1.0, so sends 1.0-2.0, at pi 2.5, waits until 3.5,
    # served 3.5-5.5, transfer 5.5-6.0 +0.5, at srv 6.5, served 6.5-7.0, back 7.75, 8.5
    assert rows(raw) == [
        (0, Status.OK, [0.0, 1.5, 1.5, 3.5, 4.5, 4.5, 5.0, 6.5]),
        (1, Status.OK, [1.0, 2.5, 3.5, 5.5, 6.5, 6.5, 7.0, 8.5]),
    ]


def test_shared_medium_with_real_tensors() -> None:
    """1000 B at 8 kbit/s is 1 s: on a shared medium the second camera waits for the first."""
    model = {
        "input_bytes": 1000,
        "layers": [{"name": "x", "op": "gemm", "flops": 0, "output_bytes": 0}],
    }

    def completions(shared: bool) -> list[float]:
        extra = {"shared": "wifi"} if shared else {}
        raw = base(
            model=model,
            devices={"a": {}, "b": {}, "ap": {"slots": 2, "gflops": 1, "mem_bandwidth": 1e15}},
            links=[{"ends": [n, "ap"], "bandwidth": 8000, **extra} for n in ("a", "b")],
            pipelines={"p": {"result_bytes": 0, "stages": [{"on": "ap"}]}},
            workload=[
                {
                    "name": n,
                    "at": n,
                    "pipeline": "p",
                    "count": 1,
                    "arrivals": {"kind": "trace", "times": [0]},
                }
                for n in ("a", "b")
            ],
        )
        (rep,) = run(load_dict(raw))
        return sorted(round(float(s.completion[0]), 9) for s in rep.sources)

    assert completions(shared=False) == [1.0, 1.0]
    assert completions(shared=True) == [1.0, 2.0]


def one_waiting_room(times: list[float], service: float) -> list[Status]:
    """Hand-run single-server FIFO with room for one waiter: each arrival's fate, in order."""
    busy_until = -np.inf
    waiting: list[float] = []
    fates = []
    for t in times:
        while waiting and busy_until <= t:  # the waiter starts when the one in service ends
            waiting.pop(0)
            busy_until += service
        if busy_until <= t:
            busy_until = t + service
            fates.append(Status.OK)
        elif not waiting:
            waiting.append(t)
            fates.append(Status.OK)
        else:
            fates.append(Status.DROPPED)
    return fates


def test_full_queue_drops_exactly_the_arrivals_that_find_it_full() -> None:
    """queue_limit 1: an arrival finding one request waiting is dropped, the rest are served
    (against a hand-run queue); every arrival ends once or is still in flight."""
    raw = base(horizon="10s")
    raw["devices"]["dev"]["queue_limit"] = 1
    raw["pipelines"]["p"]["stages"][0]["service"] = {"kind": "deterministic", "value": 0.2537}
    raw["workload"][0]["arrivals"] = {"kind": "periodic", "rate": "10/s", "offset": "50ms"}
    scenario = load_dict(raw)
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)
    src = rep.sources[0]
    fates = one_waiting_room(list(arrivals(scenario)["src"]), 0.2537)
    assert [fates[i] for i in src.ids] == src.status.tolist()
    assert {fates[i] for i in src.pending} == {Status.OK}, "only served ones are still on the way"
    assert fates.count(Status.DROPPED) > 40


LOSSY = {"ends": ["a", "b"], "bandwidth": 1e9, "latency": "5ms", "loss": 0.3,
         "retransmit_timeout": "100ms", "max_retransmits": 2}  # fmt: skip


def expected_losses(scenario: Any, n: int) -> list[tuple[Status, int]]:
    """Each request's fate and attempts lost, replayed from the two hops' loss streams.

    Requests 1 s apart never overlap, so hop a->b spends its stream's draws on request 0's
    attempts, then request 1's, and so on; hop b->a likewise for the returns.
    """
    streams = Streams(scenario.seed, 0)
    there = iter(streams.rng("link:a-b:a:loss").random(10 * n) < 0.3)
    back = iter(streams.rng("link:a-b:b:loss").random(10 * n) < 0.3)

    def lost_before_delivery(draws: Any) -> int | None:
        for attempt in range(3):  # the first attempt and 2 retransmissions
            if not next(draws):
                return attempt
        return None

    out = []
    for _ in range(n):
        first = lost_before_delivery(there)
        second = None if first is None else lost_before_delivery(back)
        if first is None or second is None:
            out.append((Status.FAILED, first or 0))
        else:
            out.append((Status.OK, first + second))
    return out


def test_lossy_link_retransmits_exactly_as_its_loss_stream_draws() -> None:
    """Each request's attempts lost, and so its fate and latency, replayed from the stream:
    latency = 2 × 5 ms + N × 100 ms for the N attempts it lost, exactly."""
    raw = remote([LOSSY], {"kind": "periodic", "rate": "1/s"}, horizon="300s")
    scenario = load_dict(raw)
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)
    src = rep.sources[0]
    expected = expected_losses(scenario, len(src.ids))
    assert [(Status(st), int(n)) for st, n in zip(src.status, src.lost, strict=True)] == expected
    ok = src.status == Status.OK
    assert src.latency[ok] == pytest.approx(0.010 + 0.1 * src.lost[ok], abs=1e-9)
    retransmitted = np.bincount(src.lost[ok])
    assert len(retransmitted) >= 4 and (retransmitted > 0).all(), "0 to 3+ losses all seen"
    assert 0 < np.count_nonzero(src.status == Status.FAILED) < len(src.ids)


def test_requests_in_flight_at_the_horizon_are_listed_with_their_arrivals() -> None:
    """3 s services from 0, 0.5, 1 and 6 s: at the 7 s horizon the third is in service and
    the fourth waits; only the fourth arrived after the 5 s warm-up."""
    raw = base(horizon="7s", warmup="5s")
    raw["pipelines"]["p"]["stages"][0]["service"] = {"kind": "deterministic", "value": "3s"}
    raw["workload"][0]["arrivals"] = {"kind": "trace", "times": [0, 0.5, 1, 6]}
    scenario = load_dict(raw)
    (rep,) = run(scenario)
    assert_conserved(scenario, rep)
    src = rep.sources[0]
    assert src.ids.tolist() == [0, 1] and src.completion.tolist() == [3.0, 6.0]
    assert src.pending.tolist() == [2, 3] and src.pending_arrival.tolist() == [1.0, 6.0]
    assert (src.in_flight, src.in_flight_measured) == (2, 1)


def test_warmup_requests_are_simulated_but_not_counted() -> None:
    """20 requests/s for 10 s with a 4 s warm-up: 120 counted of 200 simulated; the device
    is measured over the last 6 s only (20 % busy: 1.2 s)."""
    (rep,) = run(load_dict(base(warmup="4s")))
    from analysis.summary import metrics

    m = metrics(rep)
    assert len(rep.sources[0].ids) + rep.sources[0].in_flight == 200
    assert (
        m["requests"]["arrived"] == 120 and m["requests"]["ok"] + m["requests"]["in_flight"] == 120
    )
    assert rep.devices[0].busy == pytest.approx(6 * 0.2, abs=1e-9)
    assert rep.devices[0].served == 120


def test_priority_device_serves_higher_priority_first() -> None:
    """Two requests waiting behind a busy slot: the higher priority one goes first."""
    raw = base(
        horizon="10s",
        devices={"dev": {"discipline": "priority"}},
        workload=[
            {
                "name": "first",
                "at": "dev",
                "pipeline": "p",
                "priority": 0,
                "count": 1,
                "arrivals": {"kind": "trace", "times": [0]},
            },
            {
                "name": "low",
                "at": "dev",
                "pipeline": "p",
                "priority": 0,
                "count": 1,
                "arrivals": {"kind": "trace", "times": [0.001]},
            },
            {
                "name": "high",
                "at": "dev",
                "pipeline": "p",
                "priority": 5,
                "count": 1,
                "arrivals": {"kind": "trace", "times": [0.002]},
            },
        ],
    )
    (rep,) = run(load_dict(raw))
    done = {s.name: round(float(s.completion[0]), 6) for s in rep.sources}
    assert done == {"first": 0.01, "high": 0.02, "low": 0.03}


def test_multi_hop_route_takes_lowest_latency_path() -> None:
    """a to c with no direct link goes through the faster of two relays."""
    raw = remote(
        [
            {"ends": ["a", "slow"], "bandwidth": 1e9, "latency": "50ms"},
            {"ends": ["slow", "c"], "bandwidth": 1e9, "latency": "50ms"},
            {"ends": ["a", "fast"], "bandwidth": 1e9, "latency": "10ms"},
            {"ends": ["fast", "c"], "bandwidth": 1e9, "latency": "20ms"},
        ],
        {"kind": "trace", "times": [0]},
        on="c",
        source={"count": 1},
    )
    raw["model"] = {
        "input_bytes": 1000,
        "layers": [{"name": "x", "op": "gemm", "flops": 0, "output_bytes": 0}],
    }
    (rep,) = run(load_dict(raw))
    # 1000 B at 1 Gbit/s is 8 µs a hop, on top of 10 + 20 ms there and 20 + 10 ms back
    assert rep.sources[0].latency[0] == pytest.approx(0.06 + 2 * 8e-6)
    assert {link.name: link.bytes for link in rep.links} == {
        "a-slow": 0,
        "slow-c": 0,
        "a-fast": 1000,
        "fast-c": 1000,
    }


def test_streams_depend_on_names_not_positions() -> None:
    """A component's stream is the same whatever other components exist."""
    one, two = Streams(9, 0), Streams(9, 0)
    two.rng("device:new")
    assert one.rng("device:x").random(5).tolist() == two.rng("device:x").random(5).tolist()
    assert Streams(9, 1).rng("device:x").random() != one.rng("device:x").random()


def test_utilisation_and_energy_over_the_window() -> None:
    """10 ms of work every 50 ms is 20 % utilisation; energy follows the power figures."""
    raw = base(horizon="100s", warmup="10s")
    raw["devices"]["dev"].update(power_idle="1W", power_busy="6W")
    (rep,) = run(load_dict(raw))
    (dev,) = rep.devices
    assert dev.busy / rep.window == pytest.approx(0.2, abs=1e-6)
    from analysis.summary import metrics

    m = metrics(rep)
    assert m["devices"]["dev"]["energy"] == pytest.approx(90 * (0.2 * 6 + 0.8 * 1), rel=1e-6)
    assert m["energy_per_inference"] == pytest.approx(90 * 2.0 / 1800, rel=1e-3)


@pytest.mark.parametrize("discipline", ["fifo", "priority"])
def test_a_waiter_that_gives_up_leaves_the_queue_and_never_holds_a_slot(discipline: str) -> None:
    """A request that stops waiting (a real device's timeout) is removed from the queue;
    one handed the slot meanwhile gives it back; the others are served in order."""
    import simpy

    from sim.devices import Device
    from sim.spec import DeviceSpec

    env = simpy.Environment()
    device = Device(env, "d", DeviceSpec(discipline=discipline))
    assert device.acquire(0) is None
    first, second, third = device.acquire(0), device.acquire(0), device.acquire(0)
    assert first is not None and second is not None and third is not None
    device.withdraw(second)
    assert len(device.queue) == 2
    device.release()  # to first
    assert first.triggered and not third.triggered
    device.withdraw(first)  # given the slot, gives it back: on to third
    assert third.triggered and len(device.queue) == 0
    device.release()
    assert device.free == 1
