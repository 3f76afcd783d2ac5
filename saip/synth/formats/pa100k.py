"""Pedestrian attributes in the PA-100K layout: `data/NNNNNN.jpg` and `annotation.mat`.

annotation.mat holds, as the real file: `attributes` (26 x 1 cell of names),
`train_images_name` / `val_images_name` / `test_images_name` (N x 1 cells of file names) and
`train_label` / `val_label` / `test_label` (N x 26, uint8 0/1), readable by scipy.io.loadmat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saip.synth.appearance import PA100K_ATTRIBUTES, attributes, sample_appearance
from saip.synth.camera import sample_camera
from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.formats.files import cell, save_jpeg, write_mat
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs
from saip.synth.person import render_crop

SPLITS = {"train": 240, "val": 40, "test": 80}


@dataclass(frozen=True)
class AttributeJob:
    seed: int
    index: int
    path: Path
    difficulty: Difficulty


def _render(job: AttributeJob) -> np.ndarray:
    """Render one person (a stranger per image, as in PA-100K) and return its 26 labels."""
    rng = np.random.default_rng([job.seed, 40, job.index])
    app = sample_appearance(rng)
    h = int(rng.integers(160, 320))
    size = (h, int(h * rng.uniform(0.35, 0.55)))  # PA-100K crops vary in size and aspect
    camera = sample_camera(rng)
    rendered, image = render_crop(app, rng, size, camera, job.difficulty)
    save_jpeg(image, job.path, camera.jpeg_quality)
    return attributes(app, rendered.people[0].view)


def write_pa100k(
    out: Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
    splits: dict[str, int] = SPLITS,
    difficulty: Difficulty = DEFAULT,
) -> None:
    names: dict[str, list[str]] = {}
    jobs = []
    for split, count in splits.items():
        start = len(jobs)
        n = split_size(count, scale, limit)
        names[split] = [f"{start + k + 1:06d}.jpg" for k in range(n)]
        jobs += [AttributeJob(seed, start + k, out / "data" / names[split][k], difficulty) for k in range(n)]
    labels = map_jobs(_render, jobs, workers)
    variables: dict[str, np.ndarray] = {"attributes": cell(list(PA100K_ATTRIBUTES))}
    offset = 0
    for split, files in names.items():
        variables[f"{split}_images_name"] = cell(files)
        variables[f"{split}_label"] = np.stack(labels[offset : offset + len(files)]).astype(np.uint8)
        offset += len(files)
    write_mat(variables, out / "annotation.mat")
    write_contact_sheet([Tile(j.path) for j in jobs[:16]], out / "contact_sheet.png")
