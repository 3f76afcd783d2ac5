"""Run per-image jobs across processes; results come back in job order whatever the workers do."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")


def map_jobs(fn: Callable[[J], R], jobs: Sequence[J], workers: int = 1) -> list[R]:
    """`[fn(j) for j in jobs]`, on `workers` processes when > 1.

    Determinism: each job carries everything it needs (seed, index, path), so which worker runs
    it changes nothing; results are returned in job order.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1 or len(jobs) < 2:
        return [fn(j) for j in jobs]
    chunk = max(1, len(jobs) // (4 * workers))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, jobs, chunksize=chunk))
