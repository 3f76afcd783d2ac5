"""Image sources named by `cfg.data.sources`: folders, `.txt` file lists, WebDataset shards, synthetic.

Why the split into random-access sources (folders, lists, synthetic people) and shard streams:
a random-access source is shuffled per epoch and read by index, so a sample never depends on the
number of workers; shards only allow reading in order, so they are split by whole shards.
Every problem in the names (wrong path, empty folder, missing files, no shard) is a `DataError`
raised here, before any work starts.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import webdataset as wds
from PIL import Image
from webdataset.tariterators import group_by_keys, tar_file_iterator

from saip.data.images import Loaded

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
IMAGE_KEYS = tuple(e[1:] for e in IMAGE_SUFFIXES)  # a WebDataset sample's image entry, e.g. "jpg"
_URL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz")

Decode = Callable[[Path | bytes], Loaded]
Render = Callable[..., Image.Image]


class DataError(ValueError):
    """A data source that cannot be used; raised before training starts."""


@dataclass(frozen=True)
class FileSource:
    """Image files read by index; `decode` is `load_rgb` with the run's limits bound."""

    paths: tuple[Path, ...]
    decode: Decode

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> Loaded:
        return self.decode(self.paths[index])


@dataclass(frozen=True)
class SyntheticSource:
    """Procedurally rendered images: image `i` is `render(seed=i, size=size)`, the same every epoch."""

    num_images: int
    size: tuple[int, int]
    render: Render

    def __len__(self) -> int:
        return self.num_images

    def load(self, index: int) -> Loaded:
        return Loaded(self.render(seed=index, size=tuple(self.size)).convert("RGB"))


@dataclass(frozen=True)
class ConcatSource:
    """Several random-access sources read as one (index i goes to the source that holds it)."""

    parts: tuple[FileSource | SyntheticSource, ...]

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def load(self, index: int) -> Loaded:
        for part in self.parts:
            if index < len(part):
                return part.load(index)
            index -= len(part)
        raise IndexError(f"index beyond the {len(self)} images of the sources")


RandomAccessSource = FileSource | SyntheticSource | ConcatSource


@dataclass(frozen=True)
class ShardSource:
    """WebDataset tar shards (local paths or URLs), read in order; each sample's image is its bytes."""

    urls: tuple[str, ...]
    decode: Decode

    def samples(self, url: str) -> Iterator[bytes]:
        """The encoded image of every sample of one shard, in tar order (broken shards are logged)."""
        try:
            with wds.gopen(url, "rb") as stream:
                files = (
                    {**f, "__url__": url} for f in tar_file_iterator(stream, handler=wds.warn_and_continue)
                )
                for sample in group_by_keys(files, handler=wds.warn_and_continue):
                    key = next((k for k in IMAGE_KEYS if k in sample), None)
                    if key is not None:
                        yield sample[key]
        except Exception as err:  # noqa: BLE001 - a broken shard or connection must not end the run
            log.warning("skipping the rest of shard %s: %s", url, err)


def is_shard_spec(spec: str) -> bool:
    """URLs, brace patterns and tar names are shards; other names are folders or lists."""
    return bool(_URL.match(spec)) or "{" in spec or spec.lower().endswith(_SHARD_SUFFIXES)


def is_remote(url: str) -> bool:
    """A shard read through a URL scheme (http:, pipe:, s3:, ...), not a local path or `file:`."""
    return bool(_URL.match(url)) and not url.startswith("file:")


def local_path(url: str) -> Path:
    return Path(url.removeprefix("file:"))


def open_source(specs: Sequence[str], decode: Decode) -> FileSource | ShardSource:
    """Resolve the `--data` values into one source: files of folders and lists, or shards.

    Raises:
        DataError: a missing path, an empty folder or list, a list naming missing files, no shard
            matched, or shards mixed with folders (a stream cannot be shuffled with files).
    """
    shard_specs = [s for s in specs if is_shard_spec(s)]
    if shard_specs and len(shard_specs) != len(specs):
        raise DataError(f"cannot mix WebDataset shards with folders or lists: {', '.join(specs)}")
    if shard_specs:
        return ShardSource(tuple(url for spec in specs for url in expand_shards(spec)), decode)
    return FileSource(tuple(path for spec in specs for path in list_images(spec)), decode)


@functools.lru_cache(maxsize=16)
def list_images(spec: str) -> tuple[Path, ...]:
    """All images of a folder (recursive, sorted) or of a `.txt` list (paths relative to the list).

    Cached per process: a loader is built every epoch, and listing a million files takes seconds.
    """
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"data source not found: {path}")
    if path.is_dir():
        files = tuple(
            sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        )
        if not files:
            raise DataError(f"no images ({' '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return files
    if path.suffix.lower() != ".txt":
        raise DataError(f"data source must be a folder, a .txt list or WebDataset shards: {path}")
    return _read_list(path)


def _read_list(path: Path) -> tuple[Path, ...]:
    lines = (line.strip() for line in path.read_text().splitlines())
    files = [path.parent / line for line in lines if line and not line.startswith("#")]
    if not files:
        raise DataError(f"image list {path} names no files")
    _require_all(files, f"image list {path}")
    return tuple(files)


def expand_shards(spec: str) -> list[str]:
    """Brace-expand a shard pattern; local shards must all exist (URLs are checked when read)."""
    urls = list(wds.shardlists.expand_urls(spec))
    local = [local_path(u) for u in urls if not is_remote(u)]
    if local and not any(p.is_file() for p in local):
        raise DataError(f"no shard matched {spec}")
    _require_all(local, f"shard pattern {spec}")
    return urls


def _require_all(files: list[Path], what: str) -> None:
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise DataError(
            f"{what}: {len(missing)} of {len(files)} files missing, e.g. {', '.join(missing[:3])}"
        )
