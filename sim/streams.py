"""Random streams: one per stochastic component, from the run's seed and the component's name.

``numpy.random.SeedSequence`` turns (seed, replication, name) into an
independent generator. Deriving from the *name* rather than from a position
means adding a device leaves every other component's draws unchanged, so two
variants of a scenario compared under the same seed see the same arrivals and
the same service draws wherever they share components: common random numbers,
which make the difference between variants far less noisy than the variants
themselves.
"""

from __future__ import annotations

import hashlib

import numpy as np


def name_key(name: str) -> tuple[int, ...]:
    """A stable tuple of 32-bit words identifying ``name`` (no Python ``hash``: it is salted)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


class Streams:
    """The random generators of one replication of one run."""

    def __init__(self, seed: int, replication: int = 0) -> None:
        self.seed = seed
        self.replication = replication

    def rng(self, name: str) -> np.random.Generator:
        """The generator of the stochastic component called ``name``."""
        sequence = np.random.SeedSequence(self.seed, spawn_key=(self.replication, *name_key(name)))
        return np.random.Generator(np.random.PCG64(sequence))

    def __repr__(self) -> str:
        return f"Streams(seed={self.seed}, replication={self.replication})"
