"""Multi-human parsing in the CIHP layout.

`Training/` and `Validation/` each hold `Images/ID.jpg`, `Category_ids/ID.png` (LIP's 20 part
classes), `Human_ids/ID.png` (person instance k = 1..N, 0 background), `Instance_ids/ID.png`
(one id per (person, part) region, numbered as the release does: 20 (k - 1) + class) and
`train_id.txt` / `val_id.txt`, all label maps mode-L PNGs as in the release.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.formats.coco import SceneJob, render_scene_job
from saip.synth.formats.files import save_png, write_lines
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs

SPLITS = {"Training": ("train", 32), "Validation": ("val", 12)}


CLASSES = 20  # CIHP's instance ids step by the class count per person


def part_instances(parsing: np.ndarray, humans: np.ndarray) -> np.ndarray:
    """CIHP's part-instance ids [H, W] (uint8): 20 (k - 1) + class for person k's part pixels, 0
    elsewhere (the release's numbering, which PGN's evaluation relies on)."""
    ids = CLASSES * (humans.astype(np.int64) - 1) + parsing
    ids = np.where((humans > 0) & (parsing > 0), ids, 0)
    if ids.max(initial=0) > 255:
        raise ValueError(f"{int(humans.max())} people give instance ids above 255 (an 8-bit PNG)")
    return ids.astype(np.uint8)


def _render(job: tuple[SceneJob, Path]) -> None:
    scene, folder = job
    rendered, _ = render_scene_job(scene)
    name = scene.path.stem
    parsing, humans = rendered.parsing, rendered.instances.astype(np.uint8)
    save_png(parsing, folder / "Category_ids" / f"{name}.png")
    save_png(humans, folder / "Human_ids" / f"{name}.png")
    save_png(part_instances(parsing, humans), folder / "Instance_ids" / f"{name}.png")


def write_cihp(
    out: Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
    splits: dict[str, tuple[str, int]] = SPLITS,
    difficulty: Difficulty = DEFAULT,
) -> None:
    jobs: list[tuple[SceneJob, Path]] = []
    for folder, (split, count) in splits.items():
        n = split_size(count, scale, limit)
        ids = [f"{len(jobs) + k + 1:07d}" for k in range(n)]
        jobs += [
            (
                SceneJob(seed, 80, len(jobs) + k, out / folder / "Images" / f"{i}.jpg", 8, difficulty),
                out / folder,
            )
            for k, i in enumerate(ids)
        ]
        write_lines(ids, out / folder / f"{split}_id.txt")
    map_jobs(_render, jobs, workers)
    tiles = [Tile(s.path, parsing=f / "Category_ids" / f"{s.path.stem}.png") for s, f in jobs[:8]]
    write_contact_sheet(tiles, out / "contact_sheet.png", columns=4, cell=(384, 384))
