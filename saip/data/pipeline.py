"""`build_pretrain_loader`: the batches of one epoch for one rank, resumable at any batch.

Why one loader per epoch: the sample order is a permutation seeded by (seed, epoch), cut into
equal rank slices (the remainder is dropped, so every rank takes the same number of steps), and
every sample is seeded by (seed, epoch, index); `start_batch=n` then yields exactly batches
n, n + 1, ... of a fresh loader, whatever the number of workers.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from saip.config import PretrainConfig
from saip.data.images import load_rgb
from saip.data.samples import SampleMaker, collate, pick_from, sample_rng
from saip.data.shard_index import shard_images
from saip.data.sources import (
    ConcatSource,
    DataError,
    Decode,
    RandomAccessSource,
    ShardSource,
    SyntheticSource,
    open_source,
)
from saip.data.stream import ShardStream

log = logging.getLogger(__name__)

# Unreadable images replaced by other random images of the same sample seed before the slot is dropped.
_REFILL_TRIES = 4


class PretrainDataset(Dataset):
    """Random-access samples: item i is built from image i, or from a seeded replacement if unreadable."""

    def __init__(self, source: RandomAccessSource, maker: SampleMaker, seed: int, epoch: int) -> None:
        self.source, self.maker, self.seed, self.epoch = source, maker, seed, epoch
        self.others = pick_from(source)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Tensor] | None:
        rng = sample_rng(self.seed, self.epoch, [index])
        for skipped in range(_REFILL_TRIES):
            image = self.source.load(index).image
            if image is not None:
                return self.maker(image, rng, self.others) | {"index": index, "num_skipped": skipped}
            index = int(rng.integers(len(self.source)))
        return None


class PretrainLoader:
    """Iterable over the batches of one epoch and rank from `start_batch` on; `len()` counts the whole epoch.

    Each batch: uint8 "global" [B, 2, 3, Hg, Wg], "local" [B, L, 3, Hl, Wl] (last = roi crop) and
    "scene" [B, 3, Hs, Ws] (normalised on the device by the step); "inst_target" / "roi_target"
    [B, Hs / c, Ws / c] in {0, 1}, "index" long [B], "num_skipped" long [] (unreadable images met
    by this batch).
    """

    def __init__(self, loader: DataLoader, num_batches: int, start_batch: int) -> None:
        self.loader, self.num_batches, self.start_batch = loader, num_batches, start_batch

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        return iter(self.loader)


def build_pretrain_loader(
    cfg: PretrainConfig, *, rank: int = 0, world_size: int = 1, epoch: int = 0, start_batch: int = 0
) -> PretrainLoader:
    """The loader of one epoch for `rank` of `world_size`, starting at batch `start_batch`.

    Raises:
        DataError: unusable sources, remote shards with neither an index nor `data.epoch_size`, or
            too few images for one batch per rank.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside world size {world_size}")
    decode: Decode = functools.partial(
        load_rgb,
        min_side=cfg.data.min_side,
        max_pixels=cfg.data.max_pixels,
        draft_size=tuple(cfg.data.decode_size),
    )
    people, backgrounds = open_sources(cfg, decode)
    maker = SampleMaker(cfg, pick_from(backgrounds) if backgrounds is not None else None)
    batch_size, workers, seed = cfg.train.batch_size, cfg.data.num_workers, cfg.train.seed
    if isinstance(people, ShardSource):
        total = cfg.data.epoch_size or shard_images(people.urls)
    else:
        total = len(people)
    num_batches = total // world_size // batch_size
    if num_batches == 0:
        raise DataError(f"{total} images give no full batch of {batch_size} on each of {world_size} rank(s)")
    if not 0 <= start_batch <= num_batches:
        raise ValueError(f"start_batch {start_batch} is outside the epoch's {num_batches} batches")
    # DataLoader draws its workers' base seed from this generator, not from the caller's global one.
    generator = torch.Generator().manual_seed(seed)
    options = dict(num_workers=workers, pin_memory=_uses_cuda(cfg), generator=generator)
    if isinstance(people, ShardSource):
        stream = ShardStream(
            people,
            maker,
            seed=seed,
            epoch=epoch,
            rank=rank,
            world_size=world_size,
            num_streams=max(1, workers),
            batch_size=batch_size,
            num_batches=num_batches,
            start_batch=start_batch,
        )
        loader = DataLoader(stream, batch_size=None, **options)
    else:
        batches = rank_batches(len(people), seed, epoch, rank, world_size, batch_size)[start_batch:].tolist()
        dataset = PretrainDataset(people, maker, seed, epoch)
        loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate, **options)
    log.debug(
        "epoch %d rank %d: %d batches of %d from batch %d", epoch, rank, num_batches, batch_size, start_batch
    )
    return PretrainLoader(loader, num_batches, start_batch)


def fixed_batch(cfg: PretrainConfig, size: int = 2) -> dict[str, Tensor]:
    """The first `size` samples of epoch 0, built in this process: the same every run and step."""
    small = copy.deepcopy(cfg)
    small.train.batch_size, small.data.num_workers = size, 0
    return next(iter(build_pretrain_loader(small)))


def rank_batches(size: int, seed: int, epoch: int, rank: int, world_size: int, batch_size: int) -> np.ndarray:
    """Image indices [num_batches, B] of one rank: a (seed, epoch) permutation dealt round-robin, remainder dropped."""
    num_batches = size // world_size // batch_size
    order = np.random.default_rng([seed, epoch]).permutation(size)
    return order[rank : num_batches * batch_size * world_size : world_size].reshape(num_batches, batch_size)


def open_sources(
    cfg: PretrainConfig, decode: Decode
) -> tuple[RandomAccessSource | ShardSource, RandomAccessSource | None]:
    """People and explicit backgrounds; with no sources, synthetic people on synthetic backgrounds;
    `data.mix_synthetic` adds synthetic people to folders and lists."""
    backgrounds = open_source(list(cfg.data.backgrounds), decode) if cfg.data.backgrounds else None
    if isinstance(backgrounds, ShardSource):
        raise DataError(
            f"backgrounds must be folders or lists (read at random), got {list(cfg.data.backgrounds)}"
        )
    if cfg.data.sources and not cfg.data.mix_synthetic:
        return open_source(list(cfg.data.sources), decode), backgrounds
    from saip import synth  # the built-in data; imported only when used

    count = cfg.data.mix_synthetic or cfg.data.synthetic_images
    synthetic = SyntheticSource(count, tuple(cfg.data.synthetic_size), synth.render_person)
    if not cfg.data.sources:
        if backgrounds is None:
            backgrounds = SyntheticSource(count, tuple(cfg.scene.size), synth.render_background)
        return synthetic, backgrounds
    real = open_source(list(cfg.data.sources), decode)
    if isinstance(real, ShardSource):
        raise DataError("data.mix_synthetic needs folders or lists (read at random), not WebDataset shards")
    return ConcatSource((real, synthetic)), backgrounds


def _uses_cuda(cfg: PretrainConfig) -> bool:
    return torch.cuda.is_available() and (cfg.train.device == "auto" or cfg.train.device.startswith("cuda"))
