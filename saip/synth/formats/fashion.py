"""Part-level attribute parsing in a Fashionpedia-style COCO layout.

`train/` and `test/` hold the images (Fashionpedia keeps its val images in test/);
`annotations/instances_attributes_{train,val}2020.json` are COCO instance files whose
annotations also carry `attribute_ids`. Categories keep Fashionpedia's ids and names for the
garments drawn here (tops, trousers, skirts, coats, dresses, jumpsuits, sleeves, gloves,
socks, shoes, scarves, hats, glasses, bags); the attribute list is a small Fashionpedia-like
set (textile pattern, length) written in the file, with ids that have gaps as Fashionpedia's do
(its 294 attribute ids run 0..340), so a reader has to map them through the file's list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from saip.synth.appearance import Appearance, sample_appearance
from saip.synth.camera import sample_camera
from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.formats.files import save_jpeg, write_json
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs
from saip.synth.person import render_crop

SPLITS = {"train": ("train", 120), "val": ("test", 40)}
# Fashionpedia category id, name, supercategory.
CATEGORIES = {
    "shirt": (0, "shirt, blouse", "upperbody"),
    "tshirt": (1, "top, t-shirt, sweatshirt", "upperbody"),
    "sweater": (2, "sweater", "upperbody"),
    "pants": (6, "pants", "lowerbody"),
    "shorts": (7, "shorts", "lowerbody"),
    "skirt": (8, "skirt", "lowerbody"),
    "coat": (9, "coat", "wholebody"),
    "dress": (10, "dress", "wholebody"),
    "jumpsuit": (11, "jumpsuit", "wholebody"),
    "glasses": (13, "glasses", "head"),
    "hat": (14, "hat", "head"),
    "glove": (17, "glove", "arms and hands"),
    "sock": (22, "sock", "legs and feet"),
    "shoe": (23, "shoe", "legs and feet"),
    "bag": (24, "bag, wallet", "others"),
    "scarf": (25, "scarf", "neck"),
    "sleeve": (31, "sleeve", "garment parts"),
}
# Attribute slot -> (id, name, supercategory); the ids leave gaps on purpose (see the docstring).
ATTRIBUTES = (
    (317, "plain (pattern)", "textile pattern"),
    (328, "stripe", "textile pattern"),
    (322, "check", "textile pattern"),
    (301, "print", "textile pattern"),
    (326, "colorblock", "textile pattern"),
    (146, "short (length)", "length"),
    (150, "wrist-length", "length"),
    (138, "knee (length)", "length"),
    (141, "maxi (length)", "length"),
    (136, "mini (length)", "length"),
)
_PATTERN_ATTR = {"solid": 0, "stripes": 1, "checks": 2, "print": 3, "splice": 4, "pattern": 2}


@dataclass(frozen=True)
class FashionJob:
    seed: int
    index: int
    path: Path
    difficulty: Difficulty


def _category(tag: str) -> str:
    """Garment tag of a primitive -> category key (sides and the backpack merge)."""
    base = tag.split("_")[0]
    return "bag" if base == "backpack" else base


def _attributes(key: str, app: Appearance) -> list[int]:
    """The attribute ids of a garment (via the slots of `ATTRIBUTES`)."""
    return [ATTRIBUTES[slot][0] for slot in _attribute_slots(key, app)]


def _attribute_slots(key: str, app: Appearance) -> list[int]:
    if key in ("shirt", "tshirt", "sweater", "coat", "dress", "jumpsuit"):
        length = {"coat": [7], "dress": [7], "jumpsuit": [8]}.get(key, [])
        return [_PATTERN_ATTR[app.upper_pattern]] + length
    if key == "sleeve":
        return [5 if app.sleeve == "short" else 6]
    if key in ("pants", "shorts", "skirt"):
        return [_PATTERN_ATTR[app.lower_pattern], {"pants": 8, "shorts": 9, "skirt": 7}[key]]
    return []


def _render(job: FashionJob) -> tuple[int, int, list[dict[str, Any]]]:
    rng = np.random.default_rng([job.seed, 110, job.index])
    app = sample_appearance(rng)
    camera = sample_camera(rng)
    rendered, image = render_crop(app, rng, (384, 256), camera, job.difficulty)
    save_jpeg(image, job.path, camera.jpeg_quality)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(rendered.prims, start=1):
        if p.garment is not None:
            groups.setdefault(p.garment, []).append(i)
    upper = [
        i for tag, ids in groups.items() if tag == app.upper_type or tag.startswith("sleeve") for i in ids
    ]
    if upper:
        groups[app.upper_type] = upper  # a garment's mask includes its sleeves, which are also parts
    anns = []
    for tag, ids in groups.items():
        mask = np.isin(rendered.ids, ids)
        if not mask.any():
            continue
        ys, xs = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        key = _category(tag)
        anns.append(
            {
                "segmentation": {
                    "size": [int(v) for v in rle["size"]],
                    "counts": rle["counts"].decode("ascii"),
                },
                "area": float(mask.sum()),
                "iscrowd": 0,
                "bbox": [float(xs[0]), float(ys[0]), float(xs[-1] + 1 - xs[0]), float(ys[-1] + 1 - ys[0])],
                "category_id": CATEGORIES[key][0],
                "attribute_ids": _attributes(key, app),
            }
        )
    h, w = rendered.ids.shape
    return h, w, anns


def write_fashion(
    out: Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
    splits: dict[str, tuple[str, int]] = SPLITS,
    difficulty: Difficulty = DEFAULT,
) -> None:
    categories = [{"id": i, "name": n, "supercategory": s} for i, n, s in sorted(CATEGORIES.values())]
    attributes = [{"id": i, "name": n, "supercategory": s} for i, n, s in ATTRIBUTES]
    index = ann_id = 0
    tiles = []
    for split, (folder, count) in splits.items():
        n = split_size(count, scale, limit)
        jobs = [
            FashionJob(seed, index + k, out / folder / f"{index + k + 1:08d}.jpg", difficulty)
            for k in range(n)
        ]
        index += n
        images, annotations = [], []
        for job, (h, w, anns) in zip(jobs, map_jobs(_render, jobs, workers), strict=True):
            images.append({"id": job.index + 1, "file_name": job.path.name, "height": h, "width": w})
            for ann in anns:
                ann_id += 1
                annotations.append({**ann, "image_id": job.index + 1, "id": ann_id})
            if len(tiles) < 16:
                tiles.append(Tile(job.path, boxes=[a["bbox"] for a in anns]))
        write_json(
            {
                "images": images,
                "annotations": annotations,
                "categories": categories,
                "attributes": attributes,
            },
            out / "annotations" / f"instances_attributes_{split}2020.json",
        )
    write_contact_sheet(tiles, out / "contact_sheet.png")
