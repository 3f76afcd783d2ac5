"""`pack`: a folder (or `.txt` list) of person images into WebDataset shards with a sample index.

Why shards: a million small files are slow to list, copy and read on network file systems; tar
shards are read sequentially, from disk or a URL. Each image is checked with the training decoder
(`load_rgb`, the same limits), so the images training would skip are skipped and counted here, and
the index counts exactly what the loader reads. Images are shuffled first (seeded): a shard is read
in order, and a sorted folder (one video after another) would fill each batch with one person.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import webdataset as wds
from tqdm import tqdm

from saip.config import DataConfig
from saip.data.images import load_rgb
from saip.data.shard_index import INDEX_NAME, write_index
from saip.data.sources import DataError, list_images
from saip.errors import make_output_dir

_PATTERN = re.compile(r"^([^/%]*)%0(\d+)d([^/%]*\.tar)$")  # e.g. shard-%06d.tar


@dataclass(frozen=True)
class Packed:
    """What `pack` wrote: the index path, a brace pattern for `--data`, counts."""

    index: Path
    pattern: str
    images: int
    shards: int
    skipped: dict[str, int]


def pack(
    source: str,
    out: str | Path,
    *,
    shard_size: int,
    pattern: str = "shard-%06d.tar",
    seed: int | None = 0,
    workers: int = 1,
    min_side: int = DataConfig.min_side,
    max_pixels: int = DataConfig.max_pixels,
) -> Packed:
    """Write the readable images of `source` as shards of `shard_size` samples, then `out/index.json`.

    Args:
        source: a folder (recursive) or a `.txt` list, as `--data` takes them.
        shard_size: samples per shard (the last one holds the rest).
        pattern: shard file names, one `%0Nd` field, ending in `.tar`.
        seed: shuffles the images; None keeps the sorted order.
        workers: processes that read and check the images; the shards do not depend on it.

    Raises:
        DataError: a bad source, size or pattern, an `out` that already holds an index, or no
            readable image.
    """
    match = _PATTERN.match(pattern)
    if match is None:
        raise DataError(f"--pattern must be a file name with one %0Nd field ending in .tar, got {pattern!r}")
    if shard_size < 1:
        raise DataError(f"--shard-size must be at least 1, got {shard_size}")
    paths = list_images(source)
    root = Path(source) if Path(source).is_dir() else Path(source).parent
    if seed is not None:
        paths = tuple(paths[i] for i in np.random.default_rng(seed).permutation(len(paths)))
    out = make_output_dir(out)
    if (out / INDEX_NAME).exists() or (out / (pattern % 0)).exists():
        raise DataError(f"{out} already holds shards: pack into an empty folder")
    check = functools.partial(_read_checked, min_side=min_side, max_pixels=max_pixels)
    counts: Counter[str] = Counter()  # shard name -> samples
    skipped: Counter[str] = Counter()
    with wds.ShardWriter(str(out / pattern), maxcount=shard_size, verbose=0) as sink:
        for path, (data, reason) in zip(paths, _map(check, paths, workers), strict=True):
            if data is None:
                skipped[reason] += 1
                continue
            key = f"{sink.total:09d}"  # samples written so far; the source path rides along, for tracing
            sink.write(
                {"__key__": key, path.suffix.lower()[1:]: data, "path.txt": os.path.relpath(path, root)}
            )
            counts[Path(sink.fname).name] += 1
    if not counts:
        (out / (pattern % 0)).unlink(missing_ok=True)  # the writer opens its first shard up front
        raise DataError(f"no readable image in {source} ({_describe(skipped)})")
    shards = [{"name": n, "samples": c, "bytes": (out / n).stat().st_size} for n, c in counts.items()]
    index = write_index(out, shards, source=str(source), skipped=dict(sorted(skipped.items())))
    prefix, digits, suffix = match.groups()
    last = f"{len(shards) - 1:0{digits}d}"
    return Packed(
        index=index,
        pattern=str(out / f"{prefix}{{{0:0{digits}d}..{last}}}{suffix}"),
        images=sum(counts.values()),
        shards=len(shards),
        skipped=dict(skipped),
    )


def _read_checked(path: Path, *, min_side: int, max_pixels: int) -> tuple[bytes | None, str]:
    """The file's bytes if training would decode it, else None and `load_rgb`'s reason."""
    try:
        data = path.read_bytes()
    except OSError:
        return None, "unreadable"
    loaded = load_rgb(data, min_side=min_side, max_pixels=max_pixels, draft_size=DataConfig.decode_size)
    return (data, "") if loaded.image is not None else (None, str(loaded.skipped))


def _map(
    fn: Callable[[Path], tuple[bytes | None, str]], paths: tuple[Path, ...], workers: int
) -> Iterator[tuple[bytes | None, str]]:
    """`fn` over `paths` in order, in `workers` processes, with a progress bar on terminals."""
    bar = functools.partial(tqdm, total=len(paths), desc="pack", unit="img", disable=None)
    if workers <= 1:
        yield from bar(map(fn, paths))
        return
    with Pool(workers) as pool:
        yield from bar(pool.imap(fn, paths, chunksize=64))


def _describe(skipped: Counter[str]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "none found"
