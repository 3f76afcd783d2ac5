"""CIHP (Crowd Instance-level Human Parsing, Gong et al., ECCV 2018) as distributed.

Layout: `ROOT/Training/` and `ROOT/Validation/`, each with `Images/<id>.jpg`, `Category_ids/<id>.png`
(part class per pixel, LIP's 20 classes with class 10 "torso skin" for LIP's "jumpsuits"),
`Human_ids/<id>.png` (person k = 1..N per pixel, 0 background), `Instance_ids/<id>.png` (one id per
(person, part) region; the release numbers them 20 (k - 1) + class, 0 background) and the id lists
`Training/train_id.txt`, `Validation/val_id.txt`. All PNGs are 8-bit, one channel (mode L or P).

Bad input. Before any work: a missing layout folder or id list, a listed file that is missing (the
first one and how many), label PNGs whose size differs from their image (the first one). When a
sample is loaded (and for every sample under `--check-data`): a class value outside 0..19, or an
instance PNG that disagrees with its category PNG (an instance id on background, a part pixel
without an instance id, or one id over two classes or two people), one line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from saip.errors import DataError
from saip.tasks.data.checks import decode_image, header_size, missing_files
from saip.tasks.dense.flip import swap_index
from saip.tasks.dense.lip import LIP_CLASSES, LIP_PAIRS

CIHP_CLASSES = (*LIP_CLASSES[:10], "torso_skin", *LIP_CLASSES[11:])
CIHP_PAIRS = LIP_PAIRS  # left / right arm, leg and shoe
SPLITS = {"train": "Training", "val": "Validation"}
LABEL_DIRS = ("Category_ids", "Human_ids", "Instance_ids")


@dataclass(frozen=True)
class CIHPRecord:
    image_id: str
    image: Path
    category: Path
    human: Path
    instance: Path


@dataclass
class CIHPLabels:
    """One image's labels [H, W] int64: part classes, person ids (0 none), part-instance ids."""

    category: np.ndarray
    human: np.ndarray
    instance: np.ndarray

    def persons(self) -> tuple[np.ndarray, np.ndarray]:
        """(person ids [G], part maps [G, H, W]: the classes of each person, 0 elsewhere)."""
        ids = np.unique(self.human[self.human > 0])
        return ids, np.where(self.human[None] == ids[:, None, None], self.category[None], 0)

    def regions(self) -> tuple[np.ndarray, np.ndarray]:
        """(classes [R], masks [R, H, W] bool) of the part instances."""
        ids = np.unique(self.instance[self.instance > 0])
        masks = self.instance[None] == ids[:, None, None]
        classes = np.asarray([self.category[m][0] for m in masks], dtype=np.int64).reshape(-1)
        return classes, masks


def cihp_split(root: str | Path, split: str) -> list[CIHPRecord]:
    """The records of `split` (train or val), checked to exist and to agree in size."""
    folder = Path(root) / SPLITS[split]
    ids_file = folder / f"{split}_id.txt"
    for need in (ids_file, folder / "Images", *(folder / d for d in LABEL_DIRS)):
        if not need.exists():
            raise ValueError(f"{root} is not in the CIHP layout: {need} is missing")
    ids = [line.strip() for line in ids_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise DataError(f"{ids_file} lists no images")
    records = [
        CIHPRecord(i, folder / "Images" / f"{i}.jpg", *(folder / d / f"{i}.png" for d in LABEL_DIRS))
        for i in ids
    ]
    missing_files([p for r in records for p in (r.image, r.category, r.human, r.instance)], f"CIHP {split}")
    for r in records:
        size = header_size(r.image)
        for label in (r.category, r.human, r.instance):
            if header_size(label) != size:
                raise DataError(f"{label} is {header_size(label)} (W, H) but its image {r.image} is {size}")
    return records


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        if im.mode not in ("L", "P"):
            raise DataError(f"{path}: a {im.mode} PNG; CIHP label maps are 8-bit, one channel (L or P)")
        return np.asarray(im, dtype=np.int64)


def load_labels(record: CIHPRecord) -> CIHPLabels:
    """The three label maps, refused (naming the file) when they are out of range or disagree."""
    labels = CIHPLabels(_png(record.category), _png(record.human), _png(record.instance))
    category, human, instance = labels.category, labels.human, labels.instance
    bad = np.unique(category[category >= len(CIHP_CLASSES)])
    if bad.size:
        raise DataError(
            f"{record.category}: class values {bad[:5].tolist()} outside 0..{len(CIHP_CLASSES) - 1}"
        )
    if not (category.shape == human.shape == instance.shape):
        raise DataError(f"{record.instance}: its size differs from {record.category}")
    if ((instance > 0) != (category > 0)).any():
        y, x = np.argwhere((instance > 0) != (category > 0))[0]
        raise DataError(
            f"{record.instance}: instance id {instance[y, x]} at (x={x}, y={y}) where "
            f"{record.category.name} has class {category[y, x]} (ids must cover exactly the part pixels)"
        )
    parts = instance > 0
    for name, values in (("class", category), ("person", human)):
        pairs = np.unique(np.stack([instance[parts], values[parts]]), axis=1)
        split_ids = pairs[0][np.flatnonzero(np.diff(pairs[0]) == 0)]
        if split_ids.size:
            raise DataError(f"{record.instance}: instance id {split_ids[0]} spans more than one {name}")
    if (human[parts] == 0).any():
        raise DataError(f"{record.human}: part pixels outside every person")
    return labels


def check_record(record: CIHPRecord) -> None:
    """`--check-data`: the image decodes at its labels' size and the labels agree."""
    labels = load_labels(record)
    if decode_image(record.image) != labels.category.shape[::-1]:
        raise DataError(f"{record.image}: decodes at a size other than its labels'")


class CIHPDataset(Dataset):
    """(image [3, H, W] float in 0..1, target, index) at the original size (the detector resizes).

    target: "boxes" [N, 4] (x1, y1, x2, y2, each person's mask extent), "labels" [N] (1, person),
    "masks" [N, H, W] uint8, "parts" [H, W] int64 (part classes). With `flip` > 0, a random mirror
    that also swaps the left / right classes.
    """

    def __init__(self, records: list[CIHPRecord], *, flip: float = 0.0) -> None:
        self.records = records
        self.flip = flip
        self.swap = torch.as_tensor(swap_index(len(CIHP_CLASSES), CIHP_PAIRS))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor], int]:
        record = self.records[index]
        labels = load_labels(record)
        with Image.open(record.image) as img:
            image = TF.to_dtype(TF.to_image(img.convert("RGB")), torch.float32, scale=True)
        if tuple(image.shape[-2:]) != labels.category.shape:
            raise DataError(f"{record.image}: decodes at a size other than its labels'")
        ids = np.unique(labels.human[labels.human > 0])
        masks = torch.from_numpy(labels.human[None] == ids[:, None, None])
        parts = torch.from_numpy(labels.category)
        if self.flip > 0 and float(torch.rand(())) < self.flip:
            image, masks, parts = image.flip(-1), masks.flip(-1), self.swap[parts.flip(-1)]
        return image, {**_boxes(masks), "masks": masks.to(torch.uint8), "parts": parts}, index


def _boxes(masks: Tensor) -> dict[str, Tensor]:
    """Each mask's extent [N, 4] (x1, y1, x2 + 1, y2 + 1) and label 1."""
    boxes = torch.zeros(len(masks), 4)
    for k, mask in enumerate(masks):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        boxes[k] = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
    return {"boxes": boxes, "labels": torch.ones(len(masks), dtype=torch.int64)}
