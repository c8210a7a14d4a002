"""A timed gather that cannot see losses (``detect: timeout``) waits its timeout for a
failed producer; one that sees them (``detect: loss``, the default) fires at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.loader import ScenarioError
from sim.records import Status
from tests.helpers import load_dict
from tests.test_graph_theory import graph, run

DET = {"kind": "deterministic", "value": "10ms"}


def _gather(detect: str | None) -> dict[str, Any]:
    join: dict[str, Any] = {"kind": "k_of_n", "k": 2, "timeout": "50ms"}
    if detect is not None:
        join["detect"] = detect
    actors = {
        "x": {"on": "a", "service": DET},
        "y": {"on": "b", "service": DET},
        "g": {"on": "src", "after": ["x", "y"], "join": join, "service": DET},
    }
    raw = graph(actors, {"kind": "periodic", "rate": 10}, ["a", "b"], horizon="3s", warmup=0)
    raw["failures"] = [{"at": "1.05s", "target": "b", "duration": "1s"}]  # b down 1.05-2.05 s
    return raw


@pytest.mark.parametrize(("detect", "extra"), [(None, 0.0), ("loss", 0.0), ("timeout", 0.050)])
def test_a_failed_producer_costs_the_timeout_only_when_losses_are_unseen(
    detect: str | None, extra: float
) -> None:
    """Frames every 100 ms; x and y 10 ms each, in parallel, then the gather 10 ms: 20 ms
    calm. With b down, the gather fires without y: at once when it sees the loss, at the
    50 ms timeout from x's arrival at 10 ms (50 ms later than calm) when it does not."""
    src = run(_gather(detect), 0).sources[0]
    assert (src.status == Status.OK).all()
    down = (src.arrival > 1.05) & (src.arrival < 2.05)
    np.testing.assert_allclose(src.latency[~down], 0.020, atol=1e-9)
    np.testing.assert_allclose(src.latency[down], 0.020 + extra, atol=1e-9)


def test_unseen_losses_need_a_timeout() -> None:
    raw = _gather("timeout")
    del raw["graphs"]["g"]["actors"]["g"]["join"]["timeout"]
    with pytest.raises(ScenarioError, match="detect: timeout needs a timeout"):
        load_dict(raw)
