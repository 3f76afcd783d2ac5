"""WebDataset shards as a deterministic, resumable batch stream.

Why batches are made inside the stream: shards can only be read in order, so each rank reads its
own shards, and each of its `num_streams` DataLoader workers reads every `num_streams`-th of them.
Batch j of a rank comes from stream j % num_streams, which is exactly the worker the DataLoader
asks for it; a resumed run skips the earlier samples of each stream by reading, not decoding, them.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator

import numpy as np
from PIL import Image
from torch import Tensor
from torch.utils.data import IterableDataset, get_worker_info

from saip.data.samples import SampleMaker, collate, sample_rng
from saip.data.sources import DataError, ShardSource

# Recent readable images of a stream kept as backgrounds and distractors for later samples.
_RECENT = 8


class ShardStream(IterableDataset):
    """Yields collated batches start_batch .. num_batches - 1 of one rank and epoch."""

    def __init__(
        self,
        source: ShardSource,
        maker: SampleMaker,
        *,
        seed: int,
        epoch: int,
        rank: int,
        world_size: int,
        num_streams: int,
        batch_size: int,
        num_batches: int,
        start_batch: int,
    ) -> None:
        order = np.random.default_rng([seed, epoch]).permutation(len(source.urls))
        rank_urls = [source.urls[i] for i in order[rank::world_size]]
        if len(rank_urls) < num_streams:
            raise DataError(
                f"{len(source.urls)} shards cannot feed {world_size} rank(s) x {num_streams} worker(s): "
                "use more shards or fewer workers"
            )
        self.streams = [rank_urls[s::num_streams] for s in range(num_streams)]
        self.source, self.maker = source, maker
        self.seed, self.epoch, self.rank = seed, epoch, rank
        self.batch_size, self.num_batches, self.start_batch = batch_size, num_batches, start_batch

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        info = get_worker_info()
        workers = 1 if info is None else info.num_workers
        if workers != len(self.streams):
            raise DataError(f"shard stream built for {len(self.streams)} workers runs in {workers}")
        # The DataLoader asks its workers in turn, starting with worker 0: it must own batch start_batch.
        stream = (self.start_batch + (0 if info is None else info.id)) % len(self.streams)
        return self._batches(stream)

    def _batches(self, stream: int) -> Iterator[dict[str, Tensor]]:
        count = len(self.streams)
        raw = self._raw(stream)
        recent: deque[Image.Image] = deque(maxlen=_RECENT)
        skip = len(range(stream, self.start_batch, count)) * self.batch_size
        self._fast_forward(raw, skip, recent)
        position = skip
        for _ in range(self.start_batch + (stream - self.start_batch) % count, self.num_batches, count):
            samples = []
            for data in itertools.islice(raw, self.batch_size):
                samples.append(self._sample(data, [self.rank, stream, position], recent))
                position += 1
            yield collate(samples)

    def _fast_forward(self, raw: Iterator[bytes], skip: int, recent: deque[Image.Image]) -> None:
        """Read `skip` samples without decoding them, then refill `recent` from the last few as a fresh run had it."""
        for data in deque(itertools.islice(raw, skip), maxlen=2 * _RECENT):
            if (image := self.source.decode(data).image) is not None:
                recent.append(image)

    def _sample(self, data: bytes, key: list[int], recent: deque[Image.Image]) -> dict[str, Tensor] | None:
        image = self.source.decode(data).image
        if image is None:
            return None
        rng = sample_rng(self.seed, self.epoch, key)
        pool = list(recent)
        sample = self.maker(image, rng, lambda r: pool[int(r.integers(len(pool)))] if pool else None)
        recent.append(image)
        return sample | {"index": key[-1], "num_skipped": 0}

    def _raw(self, stream: int) -> Iterator[bytes]:
        """The stream's encoded images, its shards read again in the same order when exhausted."""
        while True:
            empty = True
            for url in self.streams[stream]:
                for data in self.source.samples(url):
                    empty = False
                    yield data
            if empty:
                raise DataError(f"shards hold no images: {', '.join(self.streams[stream][:3])}")
