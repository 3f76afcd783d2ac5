"""Pedestrian detection in the CrowdHuman layout: `Images/ID.jpg` and `annotation_{train,val}.odgt`.

Each .odgt line is one image: {"ID", "gtboxes": [{"tag", "hbox", "head_attr", "fbox", "vbox",
"extra"}]} with [x, y, w, h] integer boxes. fbox is the full (amodal) body and may leave the
image; vbox the visible part; hbox the head. People whose visible box is under 8 px high are
tagged "mask" with extra.ignore = 1, as CrowdHuman marks regions to ignore.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from saip.synth.difficulty import Difficulty
from saip.synth.formats.coco import SceneJob, render_scene_job
from saip.synth.formats.files import write_lines
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs

SPLITS = {"train": 32, "val": 12}
MIN_VISIBLE_HEIGHT = 8
CROWDED = Difficulty(occlusion=0.6)  # CrowdHuman is about crowds: denser placement


def _box(xywh: tuple[float, float, float, float]) -> list[int]:
    return [int(round(v)) for v in xywh]


def _gtboxes(job: SceneJob) -> list[dict[str, Any]]:
    rendered, _ = render_scene_job(job)
    boxes = []
    for k, p in enumerate(rendered.people):
        if p.area == 0:
            continue
        full_area = max(p.full_box[2] * p.full_box[3], 1.0)
        occluded = int(p.visible_box[2] * p.visible_box[3] < 0.7 * full_area)
        head_hidden = int(not (p.keypoints[:5, 2] == 2).any())
        tiny = p.visible_box[3] < MIN_VISIBLE_HEIGHT
        boxes.append(
            {
                "tag": "mask" if tiny else "person",
                "hbox": _box(p.head_box),
                "head_attr": {"ignore": head_hidden, "occ": head_hidden, "unsure": 0},
                "fbox": _box(p.full_box),
                "vbox": _box(p.visible_box),
                "extra": {"ignore": 1} if tiny else {"box_id": k, "occ": occluded},
            }
        )
    return boxes


def write_crowdhuman(
    out: Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
    splits: dict[str, int] = SPLITS,
    difficulty: Difficulty = CROWDED,
) -> None:
    """Crowded scenes (up to 12 people, dense placement) with CrowdHuman's three boxes."""
    index = 0
    tiles = []
    for split, count in splits.items():
        n = split_size(count, scale, limit)
        ids = [f"{index + k + 1:06d},{seed:x}{split[0]}" for k in range(n)]
        jobs = [
            SceneJob(seed, 70, index + k, out / "Images" / f"{i}.jpg", 12, difficulty)
            for k, i in enumerate(ids)
        ]
        index += n
        results = map_jobs(_gtboxes, jobs, workers)
        write_lines(
            [
                json.dumps({"ID": i, "gtboxes": g}, separators=(", ", ": "))
                for i, g in zip(ids, results, strict=True)
            ],
            out / f"annotation_{split}.odgt",
        )
        tiles += [
            Tile(j.path, boxes=[b["fbox"] for b in g] + [b["vbox"] for b in g])
            for j, g in zip(jobs, results, strict=True)
        ]
    write_contact_sheet(tiles[:8], out / "contact_sheet.png", columns=4, cell=(384, 384))
