"""Sample counts of WebDataset shards: `index.json` beside the shards, else counted once and cached.

Why: a shard stream has no length, yet every rank must agree on the number of batches per epoch.
`saip data pack` writes `index.json` (`{"shards": [{"name", "samples", "bytes"}], "total"}`); local
shards without one are counted from their tar headers (no image is decoded), and the counts are
cached in that same `index.json` when the folder is writable, else in memory for this process. A
shard whose size differs from its entry is counted again. Remote shards are never counted: they
need an index (read over http(s)) or `data.epoch_size`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tarfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webdataset.tariterators import base_plus_ext

from saip.data.sources import IMAGE_KEYS, DataError, is_remote, local_path

log = logging.getLogger(__name__)

INDEX_NAME = "index.json"
_META = re.compile(r"__[^/]*__($|/)")  # entries WebDataset's tar reader skips
_COUNTED: dict[tuple[str, int], int] = {}  # (shard path, bytes) -> samples: once per process, index or not
_HTTP_TIMEOUT_S = 10


def shard_images(urls: Sequence[str]) -> int:
    """Images in these shards, from their folders' `index.json` or counted (local shards only).

    Raises:
        DataError: a remote shard that no index lists (set `data.epoch_size`).
    """
    folders: dict[str, list[str]] = {}
    for url in urls:
        folder, _, name = url.rpartition("/")
        folders.setdefault(folder, []).append(name)
    return sum(
        _remote_images(folder, names) if is_remote(folder or names[0]) else _local_images(folder, names)
        for folder, names in folders.items()
    )


def count_samples(path: Path) -> int:
    """Samples with an image entry, grouped as WebDataset's reader groups them (consecutive keys).

    A broken tar counts the samples whose headers come before the break (logged); the stream reads
    a sample or two fewer from it and refills the epoch by reading its shards again.
    """
    count, key, has_image = 0, None, False
    try:
        with tarfile.open(path) as tar:  # uncompressed tars: headers only, the data is seeked over
            for member in tar:
                if not member.isreg() or _META.match(member.name):
                    continue
                prefix, suffix = base_plus_ext(member.name)
                if prefix is None:
                    continue
                if prefix != key:
                    count += has_image
                    key, has_image = prefix, False
                has_image = has_image or suffix.lower() in IMAGE_KEYS
    except (tarfile.TarError, EOFError, OSError) as err:
        log.warning("shard %s is broken after %d sample(s): %s", path, count + has_image, err)
    return count + has_image


def write_index(folder: Path, shards: list[dict[str, Any]], **extra: Any) -> Path:
    """Write `folder/index.json` atomically (a reader never sees half a file); `shards` sorted by name."""
    shards = sorted(shards, key=lambda s: s["name"])
    index = {"shards": shards, "total": sum(s["samples"] for s in shards), **extra}
    path = folder / INDEX_NAME
    tmp = folder / f".{INDEX_NAME}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(index, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_index(text: str, where: str) -> dict[str, Any] | None:
    """The parsed index (its shards as a name -> entry dict); None, with a warning, if not saip's format."""
    try:
        index = json.loads(text)
        shards = {s["name"]: s for s in index["shards"] if isinstance(s["samples"], int)}
    except (ValueError, KeyError, TypeError) as err:
        log.warning("ignoring %s: not a saip shard index (%s)", where, err)
        return None
    return {**index, "shards": shards}


def _local_images(folder: str, names: list[str]) -> int:
    root = local_path(folder) if folder else Path(".")
    path = root / INDEX_NAME
    index = read_index(path.read_text(), str(path)) if path.is_file() else {"shards": {}}
    known = dict(index["shards"]) if index is not None else {}
    sizes = {name: (root / name).stat().st_size for name in names}
    stale = [n for n in names if n not in known or known[n].get("bytes", sizes[n]) != sizes[n]]
    if not stale:
        return sum(known[name]["samples"] for name in names)
    log.info("counting the samples of %d shard(s) in %s (not in an index.json)", len(stale), root)
    for name in stale:
        key = (str(root / name), sizes[name])
        if key not in _COUNTED:
            _COUNTED[key] = count_samples(root / name)
        known[name] = {"name": name, "samples": _COUNTED[key], "bytes": sizes[name]}
    where = "memory (a foreign index.json is there)"
    if index is not None:
        extra = {k: v for k, v in index.items() if k not in ("shards", "total")}
        try:
            where = str(write_index(root, list(known.values()), **extra))
        except OSError as err:
            where = f"memory ({root} is not writable: {err.strerror})"
    log.info("cached the counts in %s", where)
    return sum(known[name]["samples"] for name in names)


def _remote_images(folder: str, names: list[str]) -> int:
    url = f"{folder}/{INDEX_NAME}"
    index = None
    if url.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(url, timeout=_HTTP_TIMEOUT_S) as response:
                index = read_index(response.read().decode(), url)
        except (urllib.error.URLError, OSError) as err:
            log.debug("no shard index at %s: %s", url, err)
    known = index["shards"] if index is not None else {}
    missing = [n for n in names if n not in known]
    if missing:
        raise DataError(
            f"remote shards ({folder}/{missing[0]}, ...) need data.epoch_size (images per epoch): "
            f"no {INDEX_NAME} beside them lists them (an index is read over http(s) only)"
        )
    return sum(known[name]["samples"] for name in names)
