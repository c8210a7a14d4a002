"""Time-weighted counting of how many servers are busy."""

from __future__ import annotations

import simpy


class BusyMeter:
    """Integrates the number of busy servers over simulated time.

    ``start()`` and ``stop()`` bracket each service; ``area(t)`` is the
    server-seconds of work done up to ``t`` (counting services still running),
    so utilisation over a window is the difference of two readings divided by
    servers × window length.
    """

    __slots__ = ("_area", "_busy", "_env", "_since")

    def __init__(self, env: simpy.Environment) -> None:
        self._env = env
        self._area = 0.0
        self._busy = 0
        self._since = 0.0

    def start(self) -> None:
        now = self._env.now
        self._area += self._busy * (now - self._since)
        self._since = now
        self._busy += 1

    def stop(self) -> None:
        now = self._env.now
        self._area += self._busy * (now - self._since)
        self._since = now
        self._busy -= 1

    def reset(self) -> None:
        """Every server stops at once (its device failed)."""
        now = self._env.now
        self._area += self._busy * (now - self._since)
        self._since = now
        self._busy = 0

    def area(self, t: float) -> float:
        """Server-seconds of work up to ``t`` (not before the last start or stop)."""
        return self._area + self._busy * (t - self._since)

    @property
    def busy(self) -> int:
        return self._busy

    def __repr__(self) -> str:
        return f"BusyMeter(busy={self._busy}, area={self._area:.6g})"
