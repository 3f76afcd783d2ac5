"""Pedestrian attribute datasets as distributed: PA-100K and PETA (with the zero-shot split).

PA-100K: `ROOT/annotation.mat` (`attributes`, `{train,val,test}_images_name`,
`{train,val,test}_label`) and the images in `ROOT/data/`.
PETA: `ROOT/PETA.mat` (struct `peta`: `data` [19000, 4 + 105], `attribute` names, `partion_attribute`
random splits) and the images `ROOT/images/00001.png`...; the 35 attributes the field evaluates
are the first 35. The zero-shot split PETA-zs (Jia et al. 2021, identities disjoint between train
and test) ships as a pickle with `train_idx`, `val_idx`, `test_idx` (0-based) or as a JSON object
with the same keys; it is read with a restricted unpickler. Both sets train on train + val.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import torch
from PIL import Image
from torch.utils.data import Dataset

from saip.errors import DataError
from saip.tasks.data.checks import missing_files
from saip.tasks.data.safe_pickle import load_plain_pickle

PETA_EVALUATED = 35


@dataclass
class AttributeList:
    paths: list[Path]
    labels: np.ndarray  # [N, A] in {0, 1}


@dataclass
class AttributeSets:
    train: AttributeList
    test: AttributeList
    names: list[str]


def _cell_strings(cell: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings (as scipy.io.loadmat returns it) as a list of str."""
    return [str(np.asarray(item).ravel()[0]) for item in np.asarray(cell).ravel()]


def _loadmat(path: Path) -> dict[str, Any]:
    """`scipy.io.loadmat`, a truncated or corrupt file failing with one line naming it."""
    try:
        return scipy.io.loadmat(path)
    except Exception as err:  # scipy raises OSError, IndexError, ValueError, MatReadError... on bad bytes
        raise DataError(
            f"{path}: not a readable MATLAB file, truncated or corrupt ({type(err).__name__}: {err})"
        ) from err


def _checked(
    mat_path: Path, paths: list[Path], labels: np.ndarray, names: list[str], what: str
) -> AttributeList:
    """The split's labels and images, checked: a label other than 0/1 (a soft or -1 "unknown" label,
    a column shift) would train and score silently wrong, so it names the file, image and attribute."""
    if len(paths) != len(labels):
        raise DataError(f"{mat_path}: {what} has {len(paths)} images but {len(labels)} label rows")
    bad = np.argwhere(~np.isin(labels, (0, 1)))
    if len(bad):
        row, col = bad[0]
        attribute = names[col] if col < len(names) else f"#{col}"
        raise DataError(
            f"{mat_path}: {what} labels must be 0 or 1, got {labels[row, col]:g} for {paths[row].name}, "
            f"attribute {attribute} ({len(bad)} bad in all)"
        )
    missing_files(paths, f"{mat_path.parent}: {what}")
    return AttributeList(paths, labels.astype(np.float32))


def read_pa100k(root: str | Path) -> AttributeSets:
    root = Path(root)
    mat_path = root / "annotation.mat"
    if not mat_path.is_file() or not (root / "data").is_dir():
        raise FileNotFoundError(f"{root} is not in the PA-100K layout: needs annotation.mat and data/")
    mat = _loadmat(mat_path)
    keys = ["attributes"] + [f"{s}_{k}" for s in ("train", "val", "test") for k in ("images_name", "label")]
    missing = [k for k in keys if k not in mat]
    if missing:
        raise ValueError(f"{mat_path} lacks {', '.join(missing)}")
    names = _cell_strings(mat["attributes"])

    def split(*parts: str) -> AttributeList:
        paths = [root / "data" / n for s in parts for n in _cell_strings(mat[f"{s}_images_name"])]
        labels = np.concatenate([mat[f"{s}_label"] for s in parts])
        return _checked(mat_path, paths, labels, names, "+".join(parts))

    return AttributeSets(split("train", "val"), split("test"), names)


def _split_indices(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(
            f"PETA split file not found: {path} (set attributes.peta_split, or '' for "
            "the random partition in PETA.mat)"
        )
    raw: Any = json.loads(path.read_text()) if path.suffix == ".json" else load_plain_pickle(path)
    if not isinstance(raw, dict) or not {"train_idx", "val_idx", "test_idx"} <= set(raw):
        raise ValueError(f"{path} must hold train_idx, val_idx and test_idx")
    return {k: np.asarray(raw[k], dtype=np.int64).ravel() for k in ("train_idx", "val_idx", "test_idx")}


def read_peta(root: str | Path, split_file: str = "") -> AttributeSets:
    """PETA with the split in `split_file` (relative to root), or PETA.mat's first random partition."""
    root = Path(root)
    mat_path = root / "PETA.mat"
    if not mat_path.is_file() or not (root / "images").is_dir():
        raise FileNotFoundError(f"{root} is not in the PETA layout: needs PETA.mat and images/")
    mat = _loadmat(mat_path)
    if "peta" not in mat:
        raise DataError(f"{mat_path} lacks the struct peta")
    peta = mat["peta"][0, 0]
    if not {"data", "attribute"} <= set(peta.dtype.names or ()):
        raise ValueError(f"{mat_path}: struct peta lacks data / attribute (has {peta.dtype.names})")
    labels = np.asarray(peta["data"])[:, 4 : 4 + PETA_EVALUATED]
    names = _cell_strings(peta["attribute"])[:PETA_EVALUATED]
    if split_file:
        idx = _split_indices(root / split_file)
    else:
        part = peta["partion_attribute"][0, 0][0, 0]
        idx = {
            k: np.asarray(part[i]).ravel().astype(np.int64) - 1
            for i, k in enumerate(("train_idx", "val_idx", "test_idx"))
        }
    bad = [k for k, v in idx.items() if len(v) and (v.min() < 0 or v.max() >= len(labels))]
    if bad:
        raise ValueError(f"PETA split indices out of range 0..{len(labels) - 1}: {', '.join(bad)}")
    paths = [root / "images" / f"{i + 1:05d}.png" for i in range(len(labels))]
    train = np.concatenate([idx["train_idx"], idx["val_idx"]])

    def subset(ids: np.ndarray, what: str) -> AttributeList:
        return _checked(mat_path, [paths[i] for i in ids], labels[ids], names, what)

    return AttributeSets(subset(train, "train+val"), subset(idx["test_idx"], "test"), names)


def read_attributes(root: str | Path, fmt: str = "pa100k", peta_split: str = "") -> AttributeSets:
    if not Path(root).is_dir():
        raise FileNotFoundError(f"dataset root not found: {root}")
    if fmt == "pa100k":
        return read_pa100k(root)
    if fmt == "peta":
        return read_peta(root, peta_split)
    raise ValueError(f"unknown attribute format {fmt!r}; known: pa100k, peta")


class AttributeImages(Dataset):
    """(image [3, H, W], labels [A]) for each entry of an `AttributeList`."""

    def __init__(self, items: AttributeList, transform) -> None:  # noqa: ANN001 (a torchvision transform)
        self.items = items
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        with Image.open(self.items.paths[index]) as im:
            image = self.transform(im.convert("RGB"))
        return image, torch.from_numpy(self.items.labels[index])
