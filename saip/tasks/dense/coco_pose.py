"""COCO person keypoints / COCO-WholeBody as distributed, read top-down: one sample per person box.

Layout: `ROOT/annotations/person_keypoints_{train,val}2017.json` (or
`coco_wholebody_{train,val}_v1.0.json`) and images in `ROOT/{train,val}2017/`. Each sample is the
person's box grown to the input aspect with a 1.25 margin, warped to the input size; training adds
the usual random scale, rotation and horizontal flip (ViTPose / SimpleBaseline recipe; no half-body
crops). Validation uses the ground-truth boxes, or a detections file in COCO results format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from saip.errors import DataError
from saip.tasks.data.checks import header_size, missing_files, read_json
from saip.tasks.dense.affine import apply_points, box_to_region, invert, region_matrix, warp_image
from saip.tasks.dense.heatmap import encode
from saip.tasks.dense.keypoints import COCO_BODY, COCO_WHOLEBODY, KeypointSet

log = logging.getLogger(__name__)


def find_keypoint_set(root: str | Path, prefer: str = "auto") -> KeypointSet:
    """The keypoint set whose annotation files are in `root` (`auto`: COCO first, then WholeBody)."""
    ann = Path(root) / "annotations"
    candidates = (
        [COCO_BODY, COCO_WHOLEBODY]
        if prefer == "auto"
        else [s for s in (COCO_BODY, COCO_WHOLEBODY) if s.name == prefer]
    )
    if not candidates:
        raise ValueError(f"unknown keypoint set {prefer!r}; use auto, coco or wholebody")
    for kpset in candidates:
        if all((ann / kpset.annotation.format(split=s)).is_file() for s in ("train", "val")):
            return kpset
    wanted = " or ".join(f"{ann}/{s.annotation.format(split='{train,val}')}" for s in candidates)
    raise ValueError(f"{root} is not a COCO keypoint dataset: expected {wanted}")


@dataclass(frozen=True)
class Instance:
    """One person box to crop: the image it is in, its box (x, y, w, h) and detection score."""

    image_id: int
    file: Path
    box: tuple[float, float, float, float]
    score: float
    points: np.ndarray  # [K, 3] (x, y, v); zeros when the box comes from a detector
    size: tuple[int, int]  # (W, H) the image record states: boxes and points are in its frame


@dataclass
class PoseAugment:
    """Training-time randomness; `scale` is the std of the box scale, `rotation` of the angle (deg)."""

    flip: float = 0.5
    scale: float = 0.25
    rotation: float = 40.0
    rotation_prob: float = 0.6


def load_annotations(root: str | Path, split: str, kpset: KeypointSet) -> dict[str, Any]:
    """The annotation file, every record checked so a bad one fails here rather than mid-run."""
    path = Path(root) / "annotations" / kpset.annotation.format(split=split)
    gt = read_json(path)
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(gt, dict) or k not in gt]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}: not a COCO keypoint annotation file")
    check_records(path, gt["images"], "image", ("id", "file_name", "width", "height"))
    check_records(path, gt["annotations"], "annotation", ("image_id",), kpset)
    return gt


def check_records(
    path: Path,
    records: list[dict[str, Any]],
    kind: str,
    keys: tuple[str, ...],
    kpset: KeypointSet | None = None,
) -> None:
    """Each record has `keys` (annotations and detections: a 4-number `bbox` too) and, with `kpset`,
    3 values per point in each part present; the first bad one is named by file and id."""
    needs_box = kind != "image"
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise DataError(f"{path}: {kind} #{i} is not a JSON object")
        where = f"{path}: {kind} {rec.get('id', f'#{i}')}"
        absent = [k for k in keys + ("bbox",) * needs_box if k not in rec]
        if absent:
            raise DataError(f"{where} has no {', '.join(absent)}")
        if needs_box and not (isinstance(rec["bbox"], list) and len(rec["bbox"]) == 4):
            raise DataError(f"{where}: bbox must be [x, y, w, h], got {rec['bbox']!r}")
        for part in kpset.parts if kpset else ():
            want = 3 * (part.stop - part.start)
            got = rec.get(part.key)
            if got and len(got) != want:
                raise DataError(f"{where}: {part.key} has {len(got)} values, {kpset.name} needs {want}")


def _clip_box(box: list[float], width: int, height: int) -> tuple[float, float, float, float] | None:
    x, y, w, h = box
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(width - 1.0, x + max(0.0, w - 1)), min(height - 1.0, y + max(0.0, h - 1))
    if x1 < x0 or y1 < y0 or w <= 0 or h <= 0:
        return None
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def person_instances(
    gt: dict[str, Any],
    image_dir: Path,
    kpset: KeypointSet,
    detections: list[dict[str, Any]] | None = None,
    score_thr: float = 0.0,
) -> list[Instance]:
    """Ground-truth people with at least one labelled point (or detector boxes when given)."""
    images = {img["id"]: img for img in gt["images"]}
    out = []
    if detections is None:
        for ann in gt["annotations"]:
            points = kpset.gather(ann)
            img = images.get(ann["image_id"])
            if (
                ann.get("iscrowd", 0)
                or ann.get("category_id", 1) != 1
                or img is None
                or not (points[:, 2] > 0).any()
            ):
                continue
            box = _clip_box(ann["bbox"], img["width"], img["height"])
            if box is not None:
                out.append(
                    Instance(
                        img["id"],
                        image_dir / img["file_name"],
                        box,
                        1.0,
                        points.astype(np.float32),
                        (img["width"], img["height"]),
                    )
                )
        return out
    empty = np.zeros((kpset.num, 3), dtype=np.float32)
    for det in detections:
        img = images.get(det["image_id"])
        if img is None or det.get("category_id", 1) != 1 or det["score"] < score_thr:
            continue
        box = _clip_box(det["bbox"], img["width"], img["height"])
        if box is not None:
            out.append(
                Instance(
                    img["id"],
                    image_dir / img["file_name"],
                    box,
                    float(det["score"]),
                    empty,
                    (img["width"], img["height"]),
                )
            )
    return out


def check_images(instances: list[Instance], what: str) -> None:
    """Fail before training when the annotation file points at images that are not there, or whose
    header size is not the record's: boxes and points would then be in another image's frame (a
    resized copy), and clipping and crops silently wrong. Headers only, so seconds for COCO."""
    if not instances:
        raise DataError(f"{what}: no person with labelled keypoints")
    records = {inst.file: inst for inst in instances}
    missing_files(sorted(records), what)
    for file, inst in sorted(records.items()):
        width, height = header_size(file)
        if (width, height) != inst.size:
            raise DataError(
                f"{file}: {width}x{height} pixels, but image {inst.image_id} in the {what} annotations "
                f"says {inst.size[0]}x{inst.size[1]} (width x height)"
            )


class TopDownDataset(Dataset):
    """Person crops -> {"image" [3, H, W], "target" [K, H/4, W/4], "weight" [K], "points" [K, 3]
    (x, y, v in crop pixels), "inverse" [2, 3] (crop -> image affine, to map predictions back),
    "index"}."""

    def __init__(
        self,
        instances: list[Instance],
        kpset: KeypointSet,
        input_size: tuple[int, int],
        *,
        augment: PoseAugment | None = None,
        sigma: float = 2.0,
    ) -> None:
        self.instances = instances
        self.kpset = kpset
        self.input_size = tuple(input_size)
        self.heatmap_size = (self.input_size[0] // 4, self.input_size[1] // 4)
        self.augment = augment
        self.sigma = sigma
        self.flip_index = kpset.flip_index()

    def __len__(self) -> int:
        return len(self.instances)

    def _random_geometry(self) -> tuple[float, float, bool]:
        aug = self.augment
        if aug is None:
            return 1.0, 0.0, False
        scale = float(torch.randn(()).clamp(-1, 1)) * aug.scale + 1.0
        rotation = (
            float(torch.randn(()).clamp(-2, 2)) * aug.rotation
            if float(torch.rand(())) < aug.rotation_prob
            else 0.0
        )
        return scale, rotation, float(torch.rand(())) < aug.flip

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        inst = self.instances[index]
        with Image.open(inst.file) as img:
            image = img.convert("RGB")
        scale, rotation, flip = self._random_geometry()
        center, size = box_to_region(inst.box, self.input_size)
        matrix = region_matrix(center, size * scale, self.input_size, rotation, flip)
        crop = warp_image(image, matrix, self.input_size)
        points = apply_points(matrix, inst.points[:, :2])
        visible = inst.points[:, 2].copy()
        if flip:
            points, visible = points[self.flip_index], visible[self.flip_index]
        target, weight = encode(points, visible, self.input_size, self.heatmap_size, self.sigma)
        tensor = TF.normalize(
            TF.to_dtype(TF.to_image(crop), torch.float32, scale=True),
            list(IMAGENET_DEFAULT_MEAN),
            list(IMAGENET_DEFAULT_STD),
        )
        return {
            "image": tensor,
            "target": torch.from_numpy(target),
            "weight": torch.from_numpy(weight),
            "points": torch.from_numpy(np.concatenate([points, visible[:, None]], 1)).float(),
            "inverse": torch.from_numpy(invert(matrix)),
            "index": index,
        }
