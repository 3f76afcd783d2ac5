"""Fashionpedia (Jia et al., ECCV 2020) instances with localized attributes, as distributed.

Layout: `ROOT/annotations/instances_attributes_{train,val}2020.json` (COCO instance files whose
annotations also carry `attribute_ids`, with `categories` and `attributes` lists) and the images
`ROOT/train/<file_name>` and `ROOT/test/<file_name>` (the release keeps its val images in `test/`).
Category and attribute lists are read from the file, never assumed (Fashionpedia: 46 categories,
294 attributes whose ids run 0..340 with gaps); attribute ids are mapped to vector slots through
the file's list order, category ids to detector labels 1..K through the sorted category ids.

Bad input. Before any work, one line naming the file and the record: a file that is not JSON or
has no `images`, `annotations`, `categories` or `attributes` list, an annotation naming an image,
category or attribute id the file does not list, a box that is not 4 finite numbers, a listed image
that is missing (the first one and how many). Skipped and counted (one warning per file): boxes
with w or h <= 0. Images without any annotation are kept (negatives for training, scored in eval).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pycocotools.coco import COCO
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from saip.errors import DataError
from saip.tasks.data.checks import decode_image, missing_files, read_json
from saip.tasks.instance.fashion_metrics import coco_index

SPLITS = {
    "train": ("train", "instances_attributes_train2020.json"),
    "val": ("test", "instances_attributes_val2020.json"),
}


@dataclass
class FashionSet:
    """One split: the file's index (`coco`), its image folder, the image ids in file order, the
    category ids in label order (label = position + 1) and the attribute ids in slot order."""

    path: Path
    coco: COCO
    image_dir: Path
    image_ids: list[int]
    category_ids: list[int]
    attribute_ids: list[int]

    def category_names(self) -> list[str]:
        return [self.coco.cats[c]["name"] for c in self.category_ids]


def _check(path: Path, data: Any) -> list[dict[str, Any]]:
    """The annotations worth training on, after the checks of the module docstring."""
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories", "attributes")
    ):
        raise DataError(
            f"{path}: not a Fashionpedia file (needs images, annotations, categories, attributes lists)"
        )
    images = {i.get("id") for i in data["images"]}
    categories = {c.get("id") for c in data["categories"]}
    attributes = {a.get("id") for a in data["attributes"]}
    kept, skipped, first = [], 0, None
    for k, ann in enumerate(data["annotations"]):
        where = f"{path}, annotation {ann.get('id', k) if isinstance(ann, dict) else k}"
        if not isinstance(ann, dict) or ann.get("image_id") not in images:
            raise DataError(f"{where}: no image_id that the images list names")
        if ann.get("category_id") not in categories:
            raise DataError(f"{where}: category id {ann.get('category_id')!r} is not in the categories list")
        unknown = [a for a in ann.get("attribute_ids", []) if a not in attributes]
        if not isinstance(ann.get("attribute_ids", []), list) or unknown:
            raise DataError(f"{where}: attribute ids {unknown[:3]} are not in the attributes list")
        box = ann.get("bbox")
        if (
            not isinstance(box, list)
            or len(box) != 4
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)
        ):
            raise DataError(f"{where}: box {box!r} is not 4 numbers [x, y, w, h]")
        if box[2] <= 0 or box[3] <= 0:
            skipped, first = skipped + 1, first or where
            continue
        kept.append({"iscrowd": 0, "area": float(box[2] * box[3]), "attribute_ids": [], **ann})
    if skipped:
        logging.getLogger(__name__).warning(
            "%s: skipped %d boxes with w or h <= 0 (first %s)", path, skipped, first
        )
    return kept


def load_split(root: str | Path, split: str) -> FashionSet:
    """The checked split (train or val); raises naming what is missing or malformed."""
    root = Path(root)
    folder, name = SPLITS[split]
    path, image_dir = root / "annotations" / name, root / folder
    for need in (path, image_dir):
        if not need.exists():
            raise ValueError(f"{root} is not in the Fashionpedia layout: {need} is missing")
    data = read_json(path)
    annotations = _check(path, data)
    coco = coco_index({**data, "annotations": annotations})
    image_ids = [i["id"] for i in data["images"]]
    missing_files([image_dir / coco.imgs[i]["file_name"] for i in image_ids], str(path))
    return FashionSet(
        path,
        coco,
        image_dir,
        image_ids,
        sorted(c["id"] for c in data["categories"]),
        [a["id"] for a in data["attributes"]],
    )


def check_image(item: tuple[FashionSet, int]) -> None:
    """`--check-data`: the image decodes at the size the file gives."""
    fashion, image_id = item
    info = fashion.coco.imgs[image_id]
    size = decode_image(fashion.image_dir / info["file_name"])
    if "width" in info and size != (info["width"], info["height"]):
        raise DataError(
            f"{fashion.image_dir / info['file_name']}: decodes at {size}, the file says {(info['width'], info['height'])}"
        )


class FashionDataset(Dataset):
    """(image [3, H, W] float in 0..1, target, index): "boxes" [N, 4] x1 y1 x2 y2, "labels" [N]
    (1..K), "masks" [N, H, W] uint8, "attributes" [N, A] float (multi-hot); with `flip` > 0, a
    random mirror."""

    def __init__(self, fashion: FashionSet, *, flip: float = 0.0) -> None:
        self.fashion = fashion
        self.flip = flip
        self.label = {c: k + 1 for k, c in enumerate(fashion.category_ids)}
        self.slot = {a: k for k, a in enumerate(fashion.attribute_ids)}

    def __len__(self) -> int:
        return len(self.fashion.image_ids)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor], int]:
        coco, image_id = self.fashion.coco, self.fashion.image_ids[index]
        info = coco.imgs[image_id]
        with Image.open(self.fashion.image_dir / info["file_name"]) as img:
            image = TF.to_dtype(TF.to_image(img.convert("RGB")), torch.float32, scale=True)
        h, w = image.shape[-2:]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        boxes = torch.tensor([[x, y, x + bw, y + bh] for x, y, bw, bh in (a["bbox"] for a in anns)]).reshape(
            -1, 4
        )
        boxes = boxes.float().clamp(min=0).minimum(torch.tensor([w, h, w, h], dtype=torch.float32))
        inside = ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).tolist()
        anns, boxes = (
            [a for a, keep in zip(anns, inside, strict=True) if keep],
            boxes[torch.tensor(inside, dtype=torch.bool)],
        )
        masks = np.zeros((len(anns), h, w), dtype=np.uint8)
        attributes = torch.zeros(len(anns), len(self.slot))
        for k, ann in enumerate(anns):
            masks[k] = coco.annToMask({**ann, "image_id": image_id}) if ann.get("segmentation") else 0
            attributes[k, [self.slot[a] for a in ann["attribute_ids"]]] = 1.0
        target = {
            "boxes": boxes,
            "labels": torch.tensor([self.label[a["category_id"]] for a in anns], dtype=torch.int64),
            "masks": torch.from_numpy(masks),
            "attributes": attributes,
        }
        if self.flip > 0 and float(torch.rand(())) < self.flip:
            image, target["masks"] = image.flip(-1), target["masks"].flip(-1)
            target["boxes"] = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        return image, target, index
