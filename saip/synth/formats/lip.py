"""Single-person part segmentation in the LIP layout.

`TrainVal_images/{train,val}_images/ID.jpg`, `TrainVal_parsing_annotations/
{train,val}_segmentations/ID.png` (mode L, values 0..19, LIP's 20 classes) and `{train,val}_id.txt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saip.synth.appearance import sample_appearance
from saip.synth.camera import sample_camera
from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.formats.files import save_jpeg, save_png, write_lines
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs
from saip.synth.person import render_crop

SPLITS = {"train": 160, "val": 40}


@dataclass(frozen=True)
class ParsingJob:
    seed: int
    index: int
    image: Path
    labels: Path
    difficulty: Difficulty


def _render(job: ParsingJob) -> None:
    rng = np.random.default_rng([job.seed, 60, job.index])
    app = sample_appearance(rng)
    h = int(rng.integers(160, 320))
    size = (h, int(h * rng.uniform(0.45, 0.8)))  # LIP crops are loose and of many sizes
    camera = sample_camera(rng)
    rendered, image = render_crop(app, rng, size, camera, job.difficulty)
    save_jpeg(image, job.image, camera.jpeg_quality)
    save_png(rendered.parsing, job.labels)


def write_lip(
    out: Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
    splits: dict[str, int] = SPLITS,
    difficulty: Difficulty = DEFAULT,
) -> None:
    jobs: list[ParsingJob] = []
    for split, count in splits.items():
        n = split_size(count, scale, limit)
        ids = [f"{len(jobs) + k + 1:06d}_{seed % 1000000:06d}" for k in range(n)]
        jobs += [
            ParsingJob(
                seed,
                len(jobs) + k,
                out / "TrainVal_images" / f"{split}_images" / f"{i}.jpg",
                out / "TrainVal_parsing_annotations" / f"{split}_segmentations" / f"{i}.png",
                difficulty,
            )
            for k, i in enumerate(ids)
        ]
        write_lines(ids, out / f"{split}_id.txt")
    map_jobs(_render, jobs, workers)
    write_contact_sheet([Tile(j.image, parsing=j.labels) for j in jobs[:16]], out / "contact_sheet.png")
