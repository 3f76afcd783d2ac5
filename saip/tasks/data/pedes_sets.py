"""Text-to-person retrieval datasets in their distributed layouts: CUHK-PEDES, ICFG-PEDES, RSTPReid.

All three are one JSON list of image records plus an `imgs/` folder the paths are relative to:
- CUHK-PEDES: `ROOT/reid_raw.json`, records `{"split": train|val|test, "captions": [str, ...],
  "file_path", "id", "processed_tokens" (optional, unused: the BPE tokenizer reads the captions)}`;
- ICFG-PEDES: `ROOT/ICFG-PEDES.json`, the same fields, splits train and test only: validation
  identities are held out of train (`val_fraction` of them, a fixed draw, never trained on);
- RSTPReid: `ROOT/data_captions.json`, records `{"id", "img_path", "captions", "split": train|val|test}`.
The split field is each dataset's standard split.

Bad input: a record that is not an object, lacks a field, has an id that is not an integer, an
unknown split, captions that are not a list of strings or not UTF-8 text, or an image that is not
there stops the run before training with one line naming the file and the record. Empty captions
are skipped and counted; an image left without any caption stays in its split's gallery but is not
trained on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saip.tasks.data.reid_sets import ReidList

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PedesLayout:
    annotation: str  # the JSON file in ROOT
    path_key: str  # the record field with the image path, relative to ROOT/imgs
    splits: tuple[str, ...]  # the splits the file itself has


LAYOUTS = {
    "cuhk_pedes": PedesLayout("reid_raw.json", "file_path", SPLITS),
    "icfg_pedes": PedesLayout("ICFG-PEDES.json", "file_path", ("train", "test")),
    "rstpreid": PedesLayout("data_captions.json", "img_path", SPLITS),
}


@dataclass
class PedesSplit:
    """Images with their person ids, and every caption with the index of its image."""

    paths: list[Path]
    pids: np.ndarray  # [I]
    captions: list[str]  # [C]
    caption_image: np.ndarray  # [C] index into `paths`

    @property
    def caption_pids(self) -> np.ndarray:
        return self.pids[self.caption_image]

    @property
    def num_ids(self) -> int:
        return len(np.unique(self.pids))

    def images(self) -> ReidList:
        """The images as a `ReidList` (one camera), for the shared image datasets and loaders."""
        return ReidList(self.paths, self.pids, np.zeros(len(self.paths), dtype=np.int64))

    def relabelled(self) -> PedesSplit:
        """Person ids mapped to 0..N-1 (the shared ID classifier's targets)."""
        _, labels = np.unique(self.pids, return_inverse=True)
        return PedesSplit(self.paths, labels.astype(np.int64), self.captions, self.caption_image)


@dataclass
class PedesSets:
    train: PedesSplit
    val: PedesSplit
    test: PedesSplit


@dataclass
class _Record:
    path: Path
    pid: int
    split: str
    captions: list[str]


def _load_json(path: Path) -> list[Any]:
    """The annotation list; bytes that are not UTF-8 become lone surrogates, caught per caption."""
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of image records, got {type(data).__name__}")
    return data


def _is_text(caption: str) -> bool:
    try:
        caption.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse(raw: Any, where: str, layout: PedesLayout, images: Path) -> tuple[_Record, int]:
    """One record, checked; returns it and the number of empty captions dropped from it."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} is not an object")
    missing = [k for k in ("id", layout.path_key, "captions", "split") if k not in raw]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    pid, rel, caps, split = raw["id"], raw[layout.path_key], raw["captions"], raw["split"]
    if not isinstance(pid, int) or isinstance(pid, bool):
        raise ValueError(f"{where}: id {pid!r} is not an integer")
    if split not in layout.splits:
        raise ValueError(f"{where}: split {split!r} is not one of {', '.join(layout.splits)}")
    if not isinstance(rel, str) or not rel:
        raise ValueError(f"{where}: {layout.path_key} {rel!r} is not a path")
    if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
        raise ValueError(f"{where}: captions must be a list of strings")
    bad = [k for k, c in enumerate(caps) if not _is_text(c)]
    if bad:
        raise ValueError(f"{where}: caption {bad[0]} is not UTF-8 text")
    kept = [" ".join(c.split()) for c in caps if c.strip()]
    return _Record(images / rel, pid, split, kept), len(caps) - len(kept)


def _split(records: list[_Record]) -> PedesSplit:
    caption_image = [i for i, r in enumerate(records) for _ in r.captions]
    return PedesSplit(
        paths=[r.path for r in records],
        pids=np.array([r.pid for r in records], dtype=np.int64),
        captions=[c for r in records for c in r.captions],
        caption_image=np.array(caption_image, dtype=np.int64),
    )


def _hold_out(train: list[_Record], fraction: float) -> tuple[list[_Record], list[_Record]]:
    """(train, val): a fixed draw (seed 0) of `fraction` of the training identities, at least one."""
    ids = np.unique([r.pid for r in train])
    count = max(1, round(fraction * len(ids))) if fraction > 0 else 0
    if count >= len(ids):
        raise ValueError(f"val_fraction {fraction} would hold out all {len(ids)} training identities")
    held = set(np.random.default_rng(0).permutation(ids)[:count].tolist())
    return [r for r in train if r.pid not in held], [r for r in train if r.pid in held]


def read_pedes(root: str | Path, fmt: str = "cuhk_pedes", *, val_fraction: float = 0.05) -> PedesSets:
    """All three splits of a text-to-person dataset; raises naming the file and record on bad input."""
    if fmt not in LAYOUTS:
        raise ValueError(f"unknown text-retrieval format {fmt!r}; known: {', '.join(LAYOUTS)}")
    root, layout = Path(root), LAYOUTS[fmt]
    annotation, images = root / layout.annotation, root / "imgs"
    if not annotation.is_file() or not images.is_dir():
        raise FileNotFoundError(f"{root} is not in the {fmt} layout: needs {layout.annotation} and imgs/")
    records, dropped = [], 0
    for index, raw in enumerate(_load_json(annotation)):
        where = f"{annotation}: record {index}" + (
            f" ({raw[layout.path_key]!r})" if isinstance(raw, dict) and layout.path_key in raw else ""
        )
        record, empty = _parse(raw, where, layout, images)
        records.append(record)
        dropped += empty
    absent = [i for i, r in enumerate(records) if not r.path.is_file()]
    if absent:
        raise FileNotFoundError(
            f"{annotation}: record {absent[0]} names an image that is not there: {records[absent[0]].path}"
            + (f" ({len(absent) - 1} more records too)" if len(absent) > 1 else "")
        )
    by_split = {s: [r for r in records if r.split == s] for s in SPLITS}
    if "val" not in layout.splits:
        by_split["train"], by_split["val"] = _hold_out(by_split["train"], val_fraction)
    empty_splits = [s for s in ("train", "test") if not by_split[s]]
    if empty_splits:
        raise ValueError(f"{annotation} has no {' or '.join(empty_splits)} records")
    uncaptioned = sum(not r.captions for r in records)
    if dropped or uncaptioned:
        log.warning(
            "%s: %d empty captions skipped; %d images without a caption (in the gallery, not trained on)",
            annotation,
            dropped,
            uncaptioned,
        )
    return PedesSets(**{s: _split(by_split[s]) for s in SPLITS})
