"""Text-to-person retrieval in the CUHK-PEDES layout: `reid_raw.json` and `imgs/...`.

reid_raw.json is a list of {"split", "captions", "file_path", "processed_tokens", "id"}: several
images per identity, two captions per image, identities split into train / val / test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saip.synth.appearance import sample_identity
from saip.synth.camera import sample_camera
from saip.synth.caption import captions, tokens
from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.formats.files import save_jpeg, write_json
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs
from saip.synth.person import render_crop

SPLITS = {"train": 40, "val": 10, "test": 20}  # identities per split


@dataclass(frozen=True)
class TextJob:
    seed: int
    identity: int
    shot: int
    split: str
    out: Path
    difficulty: Difficulty

    @property
    def file_path(self) -> str:
        return f"synth/{self.identity + 1:05d}_{self.shot}.jpg"


def _render(job: TextJob) -> dict[str, Any]:
    rng = np.random.default_rng([job.seed, 90, job.identity, job.shot])
    app = sample_identity(job.seed, job.identity, job.difficulty)
    camera = sample_camera(rng)
    _, image = render_crop(app, rng, (256, 128), camera, job.difficulty)
    save_jpeg(image, job.out / "imgs" / job.file_path, camera.jpeg_quality)
    texts = captions(app, rng)
    return {
        "split": job.split,
        "captions": texts,
        "file_path": job.file_path,
        "processed_tokens": [tokens(t) for t in texts],
        "id": job.identity + 1,
    }


def write_pedes(
    out: Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
    splits: dict[str, int] = SPLITS,
    difficulty: Difficulty = DEFAULT,
) -> None:
    """`limit` caps the images per split (2 to 3 images per identity); `scale` multiplies the
    identities of each split."""
    rng = np.random.default_rng([seed, 91])
    jobs: list[TextJob] = []
    identity = 0
    for split, count in splits.items():
        split_jobs = []
        for _ in range(split_size(count, scale)):
            split_jobs += [
                TextJob(seed, identity, k, split, out, difficulty) for k in range(int(rng.integers(2, 4)))
            ]
            identity += 1
        jobs += split_jobs[:limit]
    records = map_jobs(_render, jobs, workers)
    write_json(records, out / "reid_raw.json")
    write_contact_sheet([Tile(out / "imgs" / j.file_path) for j in jobs[:16]], out / "contact_sheet.png")
