"""Probability distributions a scenario can name, tagged by ``kind``.

Each distribution is written with its natural parameters (``mean`` and ``cv``,
``shape`` and ``scale``, ``low`` and ``high``) and offers three things:

* ``mean`` and ``variance``, exact, for the analytic side;
* ``draw(rng, n)``, ``n`` independent samples from a ``numpy`` generator;
* ``sampler(rng)``, a zero-argument callable for the simulation's hot path.
  It draws a block of samples at a time and hands them out one by one, which
  is much cheaper than one ``numpy`` call per sample; a component's k-th
  sample is still the k-th value of its own stream.

Parameters are durations (``"5ms"`` or seconds) because every distribution in
a scenario describes a time, except ``service_noise``, a dimensionless factor
written as a bare number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PrivateAttr,
    ValidationInfo,
    model_validator,
)

from sim.quantities import Duration

BLOCK = 512
"""Samples drawn from ``numpy`` per refill of a :func:`Distribution.sampler`."""


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _valid(self, info: ValidationInfo) -> _Base:
        self._form(info)
        try:
            moments = (self.mean, self.variance)
        except (OverflowError, ZeroDivisionError):
            moments = (math.inf, math.inf)
        if not all(math.isfinite(m) for m in moments):
            raise ValueError("parameters too extreme: the mean or variance is not a finite number")
        return self

    def _form(self, info: ValidationInfo) -> None:
        """Check how the parameters go together; raise ``ValueError`` if they do not."""

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def variance(self) -> float:
        raise NotImplementedError

    @property
    def cv(self) -> float:
        """Coefficient of variation, standard deviation over mean."""
        return math.sqrt(self.variance) / self.mean if self.mean else 0.0

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def sampler(self, rng: np.random.Generator) -> Callable[[], float]:
        """A callable returning the next sample of this distribution from ``rng``."""
        pending: list[float] = []
        pop = pending.pop

        def sample() -> float:
            if not pending:
                pending.extend(self.draw(rng, BLOCK)[::-1].tolist())
            return pop()

        return sample


class Deterministic(_Base):
    """Always ``value``."""

    kind: Literal["deterministic"]
    value: Duration = Field(ge=0)

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value)

    def sampler(self, rng: np.random.Generator) -> Callable[[], float]:
        value = self.value
        return lambda: value


class Exponential(_Base):
    """Memoryless, with the given ``mean`` (rate 1/mean)."""

    kind: Literal["exponential"]
    mean_: Duration = Field(alias="mean", gt=0)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean_, n)


class Uniform(_Base):
    """Uniform on ``[low, high]``."""

    kind: Literal["uniform"]
    low: Duration
    high: Duration

    def _form(self, info: ValidationInfo) -> None:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must not be below low ({self.low})")

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


class _MeanSpread(_Base):
    """Shared parameter handling: ``mean`` with either ``sd`` or ``cv``."""

    mean_: Duration = Field(alias="mean")
    sd: Duration | None = Field(default=None, ge=0)
    cv_: float | None = Field(default=None, alias="cv", ge=0)

    def _form(self, info: ValidationInfo) -> None:
        if (self.sd is None) == (self.cv_ is None):
            raise ValueError("give exactly one of sd or cv")

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def std(self) -> float:
        return self.sd if self.sd is not None else abs(self.mean_) * (self.cv_ or 0.0)

    @property
    def variance(self) -> float:
        return self.std**2


class Normal(_MeanSpread):
    """Gaussian; a duration drawn negative is used as zero by the simulator."""

    kind: Literal["normal"]

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.normal(self.mean_, self.std, n)


class Lognormal(_MeanSpread):
    """Log-normal with the given mean and spread of the variable itself (not its log)."""

    kind: Literal["lognormal"]
    mean_: Duration = Field(alias="mean", gt=0)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        sigma2 = math.log1p((self.std / self.mean_) ** 2)
        mu = math.log(self.mean_) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), n)


class Weibull(_Base):
    """Weibull with ``shape`` k and ``scale`` λ (or ``mean`` instead of ``scale``).

    Shape below 1 is a decreasing hazard (early failures, as field data of
    computing systems shows), above 1 an increasing one (wear-out).
    """

    kind: Literal["weibull"]
    shape: PositiveFloat
    scale: Duration | None = Field(default=None, gt=0)
    mean_: Duration | None = Field(default=None, alias="mean", gt=0)

    def _form(self, info: ValidationInfo) -> None:
        if (self.scale is None) == (self.mean_ is None):
            raise ValueError("give exactly one of scale or mean")

    @property
    def lam(self) -> float:
        if self.scale is not None:
            return self.scale
        assert self.mean_ is not None
        return self.mean_ / math.gamma(1 + 1 / self.shape)

    @property
    def mean(self) -> float:
        return self.lam * math.gamma(1 + 1 / self.shape)

    @property
    def variance(self) -> float:
        g1 = math.gamma(1 + 1 / self.shape)
        return self.lam**2 * (math.gamma(1 + 2 / self.shape) - g1**2)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.lam * rng.weibull(self.shape, n)


class Gamma(_Base):
    """Gamma with ``shape`` and ``scale``, or with ``mean`` and ``cv``."""

    kind: Literal["gamma"]
    shape: PositiveFloat | None = None
    scale: Duration | None = Field(default=None, gt=0)
    mean_: Duration | None = Field(default=None, alias="mean", gt=0)
    cv_: PositiveFloat | None = Field(default=None, alias="cv")

    def _form(self, info: ValidationInfo) -> None:
        natural = self.shape is not None and self.scale is not None
        moments = self.mean_ is not None and self.cv_ is not None
        if natural == moments:
            raise ValueError("give either shape and scale, or mean and cv")

    @property
    def k(self) -> float:
        return self.shape if self.shape is not None else 1 / (self.cv_ or 1.0) ** 2

    @property
    def theta(self) -> float:
        if self.scale is not None:
            return self.scale
        assert self.mean_ is not None
        return self.mean_ / self.k

    @property
    def mean(self) -> float:
        return self.k * self.theta

    @property
    def variance(self) -> float:
        return self.k * self.theta**2

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.k, self.theta, n)


class Empirical(_Base):
    """Resamples measured values uniformly, from ``values`` or a one-column text ``file``."""

    kind: Literal["empirical"]
    values: tuple[Duration, ...] | None = None
    file: Path | None = None
    _data: np.ndarray = PrivateAttr()

    def _form(self, info: ValidationInfo) -> None:
        if (self.values is None) == (self.file is None):
            raise ValueError("give exactly one of values or file")
        if self.values is not None:
            self._data = np.asarray(self.values, dtype=float)
        else:
            self._data = read_column(self.file, info)
        if not self._data.size:
            raise ValueError("needs at least one value")

    @property
    def data(self) -> np.ndarray:
        return self._data

    @property
    def mean(self) -> float:
        return float(self.data.mean())

    @property
    def variance(self) -> float:
        return float(self.data.var())

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(self.data, n)


def read_column(file: Path | None, info: ValidationInfo) -> np.ndarray:
    """Numbers from a one-column text file, relative to the scenario's folder."""
    base = Path((info.context or {}).get("base", "."))
    try:
        return np.loadtxt(base / str(file), delimiter=",", ndmin=1, dtype=float).ravel()
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {file}: {exc}") from None


Distribution = Annotated[
    Deterministic | Exponential | Uniform | Normal | Lognormal | Weibull | Gamma | Empirical,
    Field(discriminator="kind"),
]
"""Any distribution, selected by its ``kind`` key."""
