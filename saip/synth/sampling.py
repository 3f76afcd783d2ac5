"""Fast categorical draws: the generator samples ~40 of them per person, hundreds of people a second."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

import numpy as np

T = TypeVar("T")


@lru_cache(maxsize=128)
def _cdf(weights: tuple[float, ...]) -> np.ndarray:
    cdf = np.cumsum(weights)
    if cdf[-1] <= 0:
        raise ValueError(f"weights must have a positive sum, got {weights}")
    return cdf / cdf[-1]


def categorical(rng: np.random.Generator, weights: tuple[float, ...]) -> int:
    """An index drawn with probability proportional to `weights` (cached CDF; ~5x faster than
    Generator.choice)."""
    return int(np.searchsorted(_cdf(weights), rng.random(), side="right"))


def pick(rng: np.random.Generator, options: Sequence[T], weights: tuple[float, ...] | None = None) -> T:
    """One of `options`, uniformly or with `weights`."""
    if weights is None:
        return options[int(rng.integers(len(options)))]
    if len(weights) != len(options):
        raise ValueError(f"{len(options)} options but {len(weights)} weights")
    return options[categorical(rng, weights)]


def random_colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    """An RGB colour with channels in [lo, hi)."""
    r, g, b = (lo + rng.random(3) * (hi - lo)).astype(np.int64).tolist()  # 2x cheaper than integers()
    return r, g, b
