"""Epoch batch samplers: index batches that are a pure function of (seed, epoch).

Why pure functions and not stateful samplers: the engine resumes a run mid-epoch by slicing the
epoch's batch list at the saved step, so the rest of the epoch is exactly what it would have been.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np


def _rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch])


def shuffled_batches(n: int, batch_size: int, *, seed: int, epoch: int) -> list[list[int]]:
    """A random permutation of range(n) cut into full batches (the incomplete last one is dropped)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = _rng(seed, epoch).permutation(n).tolist()
    return [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def shuffled_epochs(n: int, batch_size: int, *, seed: int) -> Callable[[int], list[list[int]]]:
    """epoch -> shuffled_batches for that epoch: the engine's `epoch_batches` for tasks without a sampler of their own."""
    return lambda epoch: shuffled_batches(n, batch_size, seed=seed, epoch=epoch)


def pk_batches(pids: Sequence[int], p: int, k: int, *, seed: int, epoch: int) -> list[list[int]]:
    """P identities x K images per batch, the sampler of the ReID strong baseline (Luo et al. 2019).

    Each identity's images are shuffled and cut into chunks of K (identities with fewer than K
    images are drawn with replacement up to K; leftovers that do not fill a chunk are dropped);
    batches take one chunk from each of P identities drawn at random among those with chunks left,
    so each epoch sees about every image once and every batch has K positives per anchor.
    """
    if p < 2 or k < 1:
        raise ValueError(f"need P >= 2 identities and K >= 1 images per batch, got P={p}, K={k}")
    rng = _rng(seed, epoch)
    by_pid: dict[int, list[int]] = defaultdict(list)
    for index, pid in enumerate(pids):
        by_pid[int(pid)].append(index)
    if len(by_pid) < p:
        raise ValueError(f"P x K sampling needs at least P={p} identities, the set has {len(by_pid)}")
    chunks: dict[int, list[list[int]]] = {}
    for pid in sorted(by_pid):
        idx = np.asarray(by_pid[pid])
        idx = rng.choice(idx, size=k, replace=True) if len(idx) < k else rng.permutation(idx)
        chunks[pid] = [idx[i : i + k].tolist() for i in range(0, len(idx) - k + 1, k)]
    batches = []
    available = sorted(chunks)
    while len(available) >= p:
        chosen = rng.choice(len(available), size=p, replace=False)
        batch: list[int] = []
        for pid in (available[i] for i in sorted(chosen)):
            batch.extend(chunks[pid].pop())
        batches.append(batch)
        available = [pid for pid in available if chunks[pid]]
    return batches


def caption_batches(
    caption_image: Sequence[int], batch_size: int, *, seed: int, epoch: int
) -> list[list[int]]:
    """Caption indices, every caption about once per epoch, in batches with one caption per image.

    Why: a second caption of an image in the same batch would be a positive the image-text losses
    count twice. Each image's captions are shuffled; round r holds the r-th caption of every image
    that has one, in random order, cut into full batches (the remainder dropped); the batches of all
    rounds are then shuffled together.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rng = _rng(seed, epoch)
    by_image: dict[int, list[int]] = defaultdict(list)
    for index, image in enumerate(caption_image):
        by_image[int(image)].append(index)
    shuffled = [rng.permutation(by_image[image]).tolist() for image in sorted(by_image)]
    batches = []
    for r in range(max((len(c) for c in shuffled), default=0)):
        round_ = [caps[r] for caps in shuffled if len(caps) > r]
        order = [round_[i] for i in rng.permutation(len(round_))]
        batches += [order[i : i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
