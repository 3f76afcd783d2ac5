"""CrowdHuman person boxes (Shao et al. 2018) as distributed (.odgt) or as a COCO-format person JSON.

Layouts (`ROOT` is the dataset root):
- `crowdhuman`: `ROOT/annotation_{train,val}.odgt`, one JSON object per line, {"ID", "gtboxes":
  [{"tag": "person" | "mask", "fbox", "vbox", "hbox": [x, y, w, h], "extra": {"ignore": 0 | 1}}]},
  and the images `ROOT/Images/<ID>.jpg`;
- `coco`: `ROOT/annotations/{train,val}.json` ({"images": [{"id", "file_name"}], "annotations":
  [{"image_id", "bbox": [x, y, w, h], "category_id", "iscrowd", optional "ignore"}], "categories"})
  and the images `ROOT/Images/<file_name>`.

Targets are the full-body boxes (`fbox`; COCO `bbox`) of people, clipped to the image (fbox is
amodal and may leave it; the size comes from the image header). `mask` boxes, `extra.ignore = 1`
(COCO: `iscrowd` or `ignore`) are ignore regions: never targets, and detections inside them are
neither true nor false positives (see `crowd_metrics`).

Bad input. Fails before training with one line naming the file and line (COCO: the record): a
line that is not JSON, a record without an `ID` or a `gtboxes` list, a box that is not 4 numbers,
a listed image that is missing. Skipped and counted (one warning per file): images with an empty
`gtboxes` (or no usable box left), boxes with w or h <= 0 or no overlap with the image.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from saip.errors import DataError
from saip.tasks.data.checks import decode_image, header_size, missing_files, read_json

FORMATS = ["crowdhuman", "coco"]
IMAGE_DIR = "Images"


@dataclass
class BoxRecord:
    """One image: its `file`, `size` (H, W), targets `boxes` [N, 4] and ignore regions `ignore`
    [M, 4], both [x1, y1, x2, y2] in pixels, clipped to the image."""

    image_id: str
    file: Path
    size: tuple[int, int]
    boxes: np.ndarray
    ignore: np.ndarray


@dataclass
class _Skipped:
    """What a reader dropped, reported once per file: counts and where each kind first occurred."""

    images: int = 0
    boxes: int = 0
    first: dict[str, str] = field(default_factory=dict)

    def note(self, kind: str, where: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        self.first.setdefault(kind, where)

    def report(self, path: Path) -> None:
        if self.images or self.boxes:
            logging.getLogger(__name__).warning(
                "%s: skipped %d images without a usable box (first %s) and %d boxes with w or h <= 0 "
                "or outside the image (first %s)",
                path,
                self.images,
                self.first.get("images", "-"),
                self.boxes,
                self.first.get("boxes", "-"),
            )


def _xywh(value: Any, where: str) -> list[float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 4
        or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
    ):
        raise DataError(f"{where}: box {value!r} is not 4 numbers [x, y, w, h]")
    return [float(v) for v in value]


def clip_box(xywh: list[float], size: tuple[int, int]) -> list[float] | None:
    """[x, y, w, h] -> [x1, y1, x2, y2] clipped to an image of size (H, W); None when w or h <= 0
    or the box does not overlap the image."""
    x, y, w, h = xywh
    if w <= 0 or h <= 0:
        return None
    x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + w, float(size[1])), min(y + h, float(size[0]))
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None


def _record(
    image_id: str, file: Path, raw: list[tuple[list[float], bool]], where: str, skipped: _Skipped
) -> BoxRecord | None:
    """A record from (xywh, is_ignore) boxes, or None (counted) when no usable box is left."""
    size = header_size(file)[::-1]
    boxes: list[list[float]] = []
    ignore: list[list[float]] = []
    for xywh, ignored in raw:
        clipped = clip_box(xywh, size)
        if clipped is None:
            skipped.note("boxes", where)
        else:
            (ignore if ignored else boxes).append(clipped)
    if not boxes and not ignore:
        skipped.note("images", where)
        return None
    return BoxRecord(
        image_id,
        file,
        size,
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        np.asarray(ignore, dtype=np.float64).reshape(-1, 4),
    )


def _odgt_line(text: str, where: str) -> tuple[str, list[tuple[list[float], bool]]]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: not valid JSON ({err.msg})") from err
    if (
        not isinstance(obj, dict)
        or not isinstance(obj.get("ID"), str)
        or not isinstance(obj.get("gtboxes"), list)
    ):
        raise DataError(f"{where}: not a CrowdHuman record (needs a string ID and a gtboxes list)")
    raw = []
    for box in obj["gtboxes"]:
        if not isinstance(box, dict) or "fbox" not in box:
            raise DataError(f"{where}: a gtboxes entry has no fbox")
        extra = box.get("extra") if isinstance(box.get("extra"), dict) else {}
        ignored = box.get("tag") != "person" or bool(extra.get("ignore", 0))
        raw.append((_xywh(box["fbox"], where), ignored))
    return obj["ID"], raw


def read_odgt(path: Path, image_dir: Path) -> list[BoxRecord]:
    """Records of an .odgt file, images `image_dir/<ID>.jpg` (see the module docstring for what fails)."""
    lines = [(n, line) for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]
    parsed = [(n, *_odgt_line(line, f"{path}, line {n}")) for n, line in lines]
    missing_files([image_dir / f"{image_id}.jpg" for _, image_id, _ in parsed], f"{path}")
    skipped = _Skipped()
    records = [
        _record(image_id, image_dir / f"{image_id}.jpg", raw, f"{path}, line {n}", skipped)
        for n, image_id, raw in parsed
    ]
    skipped.report(path)
    return [r for r in records if r is not None]


def read_coco_persons(path: Path, image_dir: Path) -> list[BoxRecord]:
    """Records of a COCO-format person JSON, images `image_dir/<file_name>`."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}: not a COCO annotation file (no images list)")
    persons = {c.get("id") for c in data.get("categories", []) if c.get("name") == "person"}
    images: dict[Any, tuple[str, list[tuple[list[float], bool]]]] = {}
    for k, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            raise DataError(f"{path}: images[{k}] needs an id and a file_name")
        images[image["id"]] = (image["file_name"], [])
    for k, ann in enumerate(data.get("annotations", [])):
        where = f"{path}, annotation {ann.get('id', k) if isinstance(ann, dict) else k}"
        if not isinstance(ann, dict) or ann.get("image_id") not in images:
            raise DataError(f"{where}: no image_id that the images list names")
        if persons and ann.get("category_id") not in persons:
            continue
        ignored = bool(ann.get("iscrowd", 0)) or bool(ann.get("ignore", 0))
        images[ann["image_id"]][1].append((_xywh(ann.get("bbox"), where), ignored))
    missing_files([image_dir / name for name, _ in images.values()], f"{path}")
    skipped = _Skipped()
    records = [
        _record(str(image_id), image_dir / name, raw, f"{path}, image {image_id}", skipped)
        for image_id, (name, raw) in images.items()
    ]
    skipped.report(path)
    return [r for r in records if r is not None]


def load_split(root: str | Path, fmt: str, split: str) -> list[BoxRecord]:
    """The records of `split` (train or val) in layout `fmt`; raises naming what is missing."""
    root = Path(root)
    if fmt not in FORMATS:
        raise ValueError(f"unknown detection format {fmt!r}; supported: {', '.join(FORMATS)}")
    path = root / (f"annotation_{split}.odgt" if fmt == "crowdhuman" else f"annotations/{split}.json")
    for need in (path, root / IMAGE_DIR):
        if not need.exists():
            raise ValueError(f"{root} is not in the {fmt} layout: {need} is missing")
    records = (read_odgt if fmt == "crowdhuman" else read_coco_persons)(path, root / IMAGE_DIR)
    if not records:
        raise DataError(f"{path}: no image with a usable box")
    return records


def check_record(record: BoxRecord) -> None:
    """`--check-data`: the image decodes at the size its header gave."""
    if decode_image(record.file)[::-1] != record.size:
        raise DataError(f"{record.file}: decodes at a size other than its header's")


class BoxDataset(Dataset):
    """(image [3, H, W] float in 0..1, {"boxes" [N + M, 4] float32, "labels" [N + M] int64}, index)
    at the original size (the detector resizes and normalises); with `flip` > 0, a random mirror.

    Ignore regions come after the targets with label -1: torchvision's box-head sampler draws
    positives from labels >= 1 and negatives from label 0 only, so a proposal matched to an ignore
    region is neither (it is not taught to be background).
    """

    def __init__(self, records: list[BoxRecord], *, flip: float = 0.0) -> None:
        self.records = records
        self.flip = flip

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor], int]:
        record = self.records[index]
        with Image.open(record.file) as img:
            image = TF.to_dtype(TF.to_image(img.convert("RGB")), torch.float32, scale=True)
        if tuple(image.shape[-2:]) != record.size:
            raise DataError(f"{record.file}: decodes at a size other than its header's")
        boxes = torch.as_tensor(np.concatenate([record.boxes, record.ignore]), dtype=torch.float32)
        if self.flip > 0 and float(torch.rand(())) < self.flip:
            image = image.flip(-1)
            boxes = torch.stack(
                [record.size[1] - boxes[:, 2], boxes[:, 1], record.size[1] - boxes[:, 0], boxes[:, 3]], 1
            )
        labels = torch.cat([torch.ones(len(record.boxes)), -torch.ones(len(record.ignore))]).long()
        return image, {"boxes": boxes, "labels": labels}, index


def collate(
    samples: list[tuple[Tensor, dict[str, Tensor], int]],
) -> tuple[list[Tensor], list[dict[str, Tensor]], list[int]]:
    """Lists, not stacks: images keep their own sizes (the detector batches them itself)."""
    images, targets, indices = zip(*samples, strict=True)
    return list(images), list(targets), list(indices)
