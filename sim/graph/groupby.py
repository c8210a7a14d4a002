"""Figures from the event log by group-by: a chain's phases per request, devices' work.

The log (:mod:`sim.graph.log`) is the record; these read it without knowing where
anything sits in a row:

* :func:`phases`: per request, for a chain of actors, the time in each transfer
  (from the previous actor's ``send``, or the request's ``arrive`` at the source, to
  the actor's ``arrive``), wait (``arrive`` to ``start``) and service (``start`` to
  ``end``), and the result's way back (the last ``end`` to ``receive``): the phases
  of :func:`sim.records.phase_names`, NaN where a request never got;
* :func:`per_device`: per device, the services that ended inside a window and the
  busy seconds spent inside it (every service's overlap with the window, those still
  running at its end included): what each device's meter measures, from the log.
"""

from __future__ import annotations

import numpy as np

from sim.graph.log import Event
from sim.records import phase_names


def _when(events: np.ndarray, requests: np.ndarray, actor: int, event: Event) -> np.ndarray:
    """The time of ``event`` at ``actor`` for each of ``requests`` (NaN: none; the first)."""
    mine = events[(events["actor"] == actor) & (events["event"] == event)]
    order = np.argsort(mine["request"], kind="stable")
    keys, times = mine["request"][order], mine["time"][order]
    at = np.searchsorted(keys, requests)
    found = at < len(keys)
    found[found] = keys[at[found]] == requests[found]
    out = np.full(len(requests), np.nan)
    out[found] = times[at[found]]
    return out


def phases(events: np.ndarray, requests: np.ndarray, actors: list[int]) -> dict[str, np.ndarray]:
    """Per request of ``requests``, its time in each phase of the chain ``actors`` (log
    indices, in chain order), by :func:`sim.records.phase_names`."""
    names = iter(phase_names(len(actors)))
    out: dict[str, np.ndarray] = {}
    before = _when(events, requests, -1, Event.ARRIVE)
    for k, actor in enumerate(actors):
        arrive = _when(events, requests, actor, Event.ARRIVE)
        start = _when(events, requests, actor, Event.START)
        end = _when(events, requests, actor, Event.END)
        out[next(names)] = arrive - before
        out[next(names)] = start - arrive
        out[next(names)] = end - start
        before = _when(events, requests, actor, Event.SEND) if k < len(actors) - 1 else end
    out[next(names)] = _when(events, requests, -1, Event.RECEIVE) - before
    return out


def per_device(events: np.ndarray, devices: int, start: float, end: float) -> dict[str, np.ndarray]:
    """Per device index: ``served``, the services that ended in ``(start, end]``, and
    ``busy``, the seconds of service inside ``[start, end]``."""
    began = events[events["event"] == Event.START]
    ended = events[events["event"] == Event.END]
    width = int(max(began["actor"].max(initial=0), ended["actor"].max(initial=0))) + 1
    key_b = began["request"] * width + began["actor"]
    key_e = ended["request"] * width + ended["actor"]
    order = np.argsort(key_e, kind="stable")
    at = np.searchsorted(key_e[order], key_b)
    found = at < len(key_e)
    found[found] = key_e[order][at[found]] == key_b[found]
    stop = np.full(len(began), end)  # still running at the end of the window
    stop[found] = ended["time"][order][at[found]]
    spent = np.clip(np.minimum(stop, end) - np.maximum(began["time"], start), 0.0, None)
    inside = ended[(ended["time"] > start) & (ended["time"] <= end)]
    return {
        "served": np.bincount(inside["device"], minlength=devices),
        "busy": np.bincount(began["device"], weights=spent, minlength=devices),
    }
