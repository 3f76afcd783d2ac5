"""Person ReID datasets in their distributed layouts: Market-1501 folders and MSMT17 list files.

Market-1501: `ROOT/{bounding_box_train, query, bounding_box_test}/PPPP_cCsS_FFFFFF_NN.jpg`, where
PPPP is the identity (-1: junk, 0000: distractor) and C the camera (from 1).
MSMT17 (V1; V2 names its folders `mask_{train,test}_v2`): `ROOT/{train,test}/` and
`ROOT/list_{train,val,query,gallery}.txt` with lines `PPPP/PPPP_NNN_CC_... PID`; train + val are
trained on, as every published MSMT17 number does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

MARKET_SPLITS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
_MARKET_NAME = re.compile(r"^(-?\d+)_c(\d+)")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass
class ReidList:
    """One split: image paths with identity and camera (from 0) per image."""

    paths: list[Path]
    pids: np.ndarray
    camids: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    def relabelled(self) -> ReidList:
        """Identities mapped to 0..N-1 (classifier targets), junk (-1) dropped."""
        keep = self.pids != -1
        _, labels = np.unique(self.pids[keep], return_inverse=True)
        paths = [p for p, k in zip(self.paths, keep, strict=True) if k]
        return ReidList(paths, labels.astype(np.int64), self.camids[keep])

    @property
    def num_ids(self) -> int:
        return len(np.unique(self.pids[self.pids != -1]))


@dataclass
class ReidSets:
    query: ReidList
    gallery: ReidList
    train: ReidList | None = None  # None: not read (a protocol that never trains or standardises)


def read_market_folder(folder: Path) -> ReidList:
    if not folder.is_dir():
        raise FileNotFoundError(f"Market-1501 layout: folder {folder} is missing")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    parsed = [(p, _MARKET_NAME.match(p.name)) for p in files]
    bad = [p.name for p, m in parsed if m is None]
    if bad:
        raise ValueError(
            f"{folder}: {len(bad)} file names are not Market-1501 names "
            f"(PPPP_cCsS_FFFFFF_NN.jpg), e.g. {bad[:3]}"
        )
    if not files:
        raise ValueError(f"{folder} holds no images")
    pids = np.array([int(m.group(1)) for _, m in parsed], dtype=np.int64)  # type: ignore[union-attr]
    camids = np.array([int(m.group(2)) - 1 for _, m in parsed], dtype=np.int64)  # type: ignore[union-attr]
    return ReidList(files, pids, camids)


def read_market1501(
    root: str | Path, splits: tuple[str, ...] = ("train", "query", "gallery")
) -> dict[str, ReidList]:
    root = Path(root)
    missing = [MARKET_SPLITS[s] + "/" for s in splits if not (root / MARKET_SPLITS[s]).is_dir()]
    if missing:
        raise FileNotFoundError(f"{root} is not in the Market-1501 layout: missing {', '.join(missing)}")
    return {s: read_market_folder(root / MARKET_SPLITS[s]) for s in splits}


def _read_msmt_list(list_file: Path, image_dir: Path) -> ReidList:
    paths, pids, camids = [], [], []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        fields = Path(parts[0]).name.split("_")
        if (
            len(parts) != 2
            or len(fields) < 3
            or not parts[1].lstrip("-").isdigit()
            or not fields[2].isdigit()
        ):
            raise ValueError(f"{list_file}:{number}: expected 'PPPP/PPPP_NNN_CC_....jpg PID', got {line!r}")
        paths.append(image_dir / parts[0])
        pids.append(int(parts[1]))
        camids.append(int(fields[2]) - 1)
    if not paths:
        raise ValueError(f"{list_file} lists no images")
    return ReidList(paths, np.array(pids, dtype=np.int64), np.array(camids, dtype=np.int64))


def read_msmt17(
    root: str | Path, splits: tuple[str, ...] = ("train", "query", "gallery")
) -> dict[str, ReidList]:
    root = Path(root)
    train_dir, test_dir = root / "train", root / "test"
    if not test_dir.is_dir() and (root / "mask_test_v2").is_dir():
        train_dir, test_dir = root / "mask_train_v2", root / "mask_test_v2"
    lists = [*(["train", "val"] if "train" in splits else []), "query", "gallery"]
    needed = [train_dir] if "train" in splits else []
    needed += [test_dir] + [root / f"list_{s}.txt" for s in lists]
    missing = [p.name for p in needed if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{root} is not in the MSMT17 layout: missing {', '.join(missing)}")
    sets = {s: _read_msmt_list(root / f"list_{s}.txt", test_dir) for s in ("query", "gallery")}
    if "train" in splits:
        train, val = (_read_msmt_list(root / f"list_{s}.txt", train_dir) for s in ("train", "val"))
        sets["train"] = ReidList(
            train.paths + val.paths,
            np.concatenate([train.pids, val.pids]),
            np.concatenate([train.camids, val.camids]),
        )
    absent = [str(p) for s in sets.values() for p in s.paths[:1] if not p.is_file()]
    if absent:
        raise FileNotFoundError(f"MSMT17 list files name images that are not there, e.g. {absent[0]}")
    return sets


READERS = {"market1501": read_market1501, "msmt17": read_msmt17}


def read_reid(root: str | Path, fmt: str = "market1501", *, train: bool = True) -> ReidSets:
    """Query, gallery and (when `train`) the training split of a ReID dataset; raises naming what
    is missing when the layout is wrong. Only the splits asked for need to exist."""
    if fmt not in READERS:
        raise ValueError(f"unknown ReID format {fmt!r}; known: {', '.join(READERS)}")
    if not Path(root).is_dir():
        raise FileNotFoundError(f"dataset root not found: {root}")
    splits = ("train", "query", "gallery") if train else ("query", "gallery")
    return ReidSets(**READERS[fmt](root, splits))


class ReidImages(Dataset):
    """(image [3, H, W], pid, camid) for each entry of a `ReidList`."""

    def __init__(self, items: ReidList, transform) -> None:  # noqa: ANN001 (a torchvision transform)
        self.items = items
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        with Image.open(self.items.paths[index]) as im:
            image = self.transform(im.convert("RGB"))
        return image, int(self.items.pids[index]), int(self.items.camids[index])
