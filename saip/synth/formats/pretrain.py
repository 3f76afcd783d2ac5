"""Unlabelled pretraining data: `persons/` (crops of varied sizes and aspects), `backgrounds/`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saip.synth.background import render_background
from saip.synth.formats.files import save_jpeg
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs
from saip.synth.person import render_person


@dataclass(frozen=True)
class ImageJob:
    seed: int
    index: int
    path: Path
    person: bool


def _render(job: ImageJob) -> None:
    rng = np.random.default_rng([job.seed, 100, int(job.person), job.index])
    item_seed = int(rng.integers(2**31))
    if job.person:
        h = int(rng.integers(96, 385))
        image = render_person(item_seed, (h, max(8, int(h * rng.uniform(0.35, 0.7)))))
    else:
        image = render_background(item_seed, (int(rng.integers(192, 513)), int(rng.integers(192, 513))))
    save_jpeg(image, job.path, int(rng.integers(75, 96)))


def write_unlabelled(
    out: Path, seed: int, workers: int, limit: int | None, scale: float, persons: int, backgrounds: int
) -> None:
    persons, backgrounds = split_size(persons, scale, limit), split_size(backgrounds, scale, limit)
    jobs = [ImageJob(seed, k, out / "persons" / f"{k:06d}.jpg", True) for k in range(persons)]
    jobs += [ImageJob(seed, k, out / "backgrounds" / f"{k:06d}.jpg", False) for k in range(backgrounds)]
    map_jobs(_render, jobs, workers)
    write_contact_sheet([Tile(j.path) for j in jobs[:16]], out / "contact_sheet.png")


def write_pretrain(
    out: Path, seed: int = 0, workers: int = 1, limit: int | None = None, scale: float = 1.0
) -> None:
    write_unlabelled(out, seed, workers, limit, scale, persons=2000, backgrounds=200)


def write_demo(
    out: Path, seed: int = 0, workers: int = 1, limit: int | None = None, scale: float = 1.0
) -> None:
    """Small and fast (a few seconds on one core): what the README's first command uses."""
    write_unlabelled(out, seed, workers, limit, scale, persons=300, backgrounds=24)
