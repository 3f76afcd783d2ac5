"""Multi-person keypoints in the COCO and COCO-WholeBody layouts.

`train2017/` and `val2017/` hold the scenes (`000000000001.jpg`, ...);
`annotations/person_keypoints_{train,val}2017.json` (COCO: 17 keypoints, RLE masks, boxes) or
`annotations/coco_wholebody_{train,val}_v1.0.json` (plus foot_kpts 6, face_kpts 68,
lefthand_kpts 21, righthand_kpts 21, their boxes and *_valid flags; all 133 points are drawn).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from saip.synth.compose import PersonLabels, Rendered
from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.formats.files import save_jpeg, write_json
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs
from saip.synth.scene import render_scene, scene_size
from saip.synth.skeleton import COCO_KEYPOINTS, COCO_SKELETON, FACE, FEET, LHAND, RHAND

SPLITS = {"train": 32, "val": 12}
PERSON_CATEGORY = {
    "supercategory": "person",
    "id": 1,
    "name": "person",
    "keypoints": list(COCO_KEYPOINTS),
    "skeleton": [list(p) for p in COCO_SKELETON],
}


@dataclass(frozen=True)
class SceneJob:
    seed: int
    stream: int  # separates the scene streams of different presets
    index: int
    path: Path
    max_people: int
    difficulty: Difficulty
    long_side: tuple[int, int] = (512, 1024)


def render_scene_job(job: SceneJob) -> tuple[Rendered, int]:
    """Render and save the scene of `job`; returns it and the JPEG quality used."""
    rng = np.random.default_rng([job.seed, job.stream, job.index])
    rendered, image = render_scene(rng, scene_size(rng, job.long_side), job.max_people, job.difficulty)
    quality = int(rng.integers(70, 96))
    save_jpeg(image, job.path, quality)
    return rendered, quality


def _flat(points: np.ndarray) -> list[float]:
    return [float(v) if k % 3 < 2 else int(v) for k, v in enumerate(points.ravel())]


def _group_box(points: np.ndarray) -> list[float]:
    labelled = points[points[:, 2] > 0, :2]
    if not len(labelled):
        return [0.0, 0.0, 0.0, 0.0]
    lo, hi = labelled.min(0), labelled.max(0)
    return [
        round(float(lo[0]), 2),
        round(float(lo[1]), 2),
        round(float(hi[0] - lo[0]), 2),
        round(float(hi[1] - lo[1]), 2),
    ]


def person_annotation(person: PersonLabels, mask: np.ndarray) -> dict[str, Any]:
    """COCO + COCO-WholeBody fields of one person (no ids yet)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    kps = person.keypoints
    ann: dict[str, Any] = {
        "segmentation": {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")},
        "num_keypoints": int((kps[:17, 2] > 0).sum()),
        "area": float(person.area),
        "iscrowd": 0,
        "keypoints": _flat(kps[:17]),
        "bbox": [float(v) for v in person.visible_box],
        "category_id": 1,
    }
    for name, part in (("foot", FEET), ("face", FACE), ("lefthand", LHAND), ("righthand", RHAND)):
        ann[f"{name}_kpts"] = _flat(kps[part])
        ann[f"{name}_valid"] = bool((kps[part, 2] == 2).any())
        if name != "foot":
            ann[f"{name}_box"] = _group_box(kps[part])
    return ann


def _scene_annotations(job: SceneJob) -> tuple[int, int, list[dict[str, Any]]]:
    rendered, _ = render_scene_job(job)
    instances = rendered.instances
    anns = [
        person_annotation(p, instances == k) for k, p in enumerate(rendered.people, start=1) if p.area > 0
    ]
    h, w = instances.shape
    return h, w, anns


def write_coco(
    out: Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
    wholebody: bool = False,
    splits: dict[str, int] = SPLITS,
    difficulty: Difficulty = DEFAULT,
) -> None:
    """Write COCO person keypoints (or COCO-WholeBody with `wholebody=True`) scenes into `out`."""
    body_only = (
        "foot_kpts",
        "face_kpts",
        "lefthand_kpts",
        "righthand_kpts",
        "face_box",
        "lefthand_box",
        "righthand_box",
        "foot_valid",
        "face_valid",
        "lefthand_valid",
        "righthand_valid",
    )
    image_id = ann_id = 0
    tiles = []
    for split, count in splits.items():
        n = split_size(count, scale, limit)
        ids = range(image_id + 1, image_id + n + 1)
        image_id += n
        jobs = [SceneJob(seed, 50, i, out / f"{split}2017" / f"{i:012d}.jpg", 8, difficulty) for i in ids]
        images, annotations = [], []
        for job, (h, w, anns) in zip(jobs, map_jobs(_scene_annotations, jobs, workers), strict=True):
            images.append({"file_name": job.path.name, "height": h, "width": w, "id": job.index})
            for ann in anns:
                ann_id += 1
                if not wholebody:
                    ann = {k: v for k, v in ann.items() if k not in body_only}
                annotations.append({**ann, "image_id": job.index, "id": ann_id})
            if len(tiles) < 8:
                tiles.append(Tile(job.path, [a["keypoints"] for a in anns], [a["bbox"] for a in anns]))
        name = f"coco_wholebody_{split}_v1.0.json" if wholebody else f"person_keypoints_{split}2017.json"
        write_json(
            {"images": images, "annotations": annotations, "categories": [PERSON_CATEGORY]},
            out / "annotations" / name,
        )
    write_contact_sheet(tiles, out / "contact_sheet.png", columns=4, cell=(384, 384))


def write_pose(
    out: Path, seed: int = 0, workers: int = 1, limit: int | None = None, scale: float = 1.0
) -> None:
    write_coco(out, seed, workers, limit, scale)


def write_wholebody(
    out: Path, seed: int = 0, workers: int = 1, limit: int | None = None, scale: float = 1.0
) -> None:
    write_coco(out, seed, workers, limit, scale, wholebody=True)
