"""Person ReID in the Market-1501 layout.

`bounding_box_train/`, `bounding_box_test/` and `query/` hold `PPPP_cCsS_FFFFFF_NN.jpg` crops
(person id, camera, sequence, frame, box index). As in Market-1501, the gallery also holds
distractors (id 0000: here near-duplicates of test identities, or strangers) and junk (id -1:
badly framed crops of test identities, ignored by the evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saip.synth.appearance import near_duplicate, sample_appearance, sample_identity
from saip.synth.camera import sample_camera
from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.formats.files import save_jpeg
from saip.synth.formats.sheet import Tile, write_contact_sheet
from saip.synth.formats.sizes import split_size
from saip.synth.parallel import map_jobs
from saip.synth.person import render_crop

CAMERAS = 6
SIZE = (128, 64)  # Market-1501 crops are 128x64 (H, W)


@dataclass(frozen=True)
class Shot:
    """One crop to render: `identity` is the generator's id, `label` the id in the file name."""

    seed: int
    identity: int
    label: int
    camera: int
    frame: int
    index: int
    kind: str  # "person", "distractor" or "junk"
    folder: str
    difficulty: Difficulty

    @property
    def name(self) -> str:
        pid = "-1" if self.label < 0 else f"{self.label:04d}"
        seq = 1 + self.frame % 6
        return f"{pid}_c{self.camera}s{seq}_{self.frame:06d}_{self.index:02d}.jpg"


def _render(shot: tuple[Shot, Path]) -> tuple[str, list[list[float]]]:
    """Render and save one crop; returns its file name and 17 keypoints (none for junk)."""
    job, out = shot
    rng = np.random.default_rng([job.seed, 32, job.identity, job.camera, job.frame, job.index])
    app = sample_identity(job.seed, job.identity, job.difficulty)
    if job.kind == "distractor":
        near = rng.random() < job.difficulty.near_duplicates
        app = near_duplicate(app, rng) if near else sample_appearance(rng)
    camera = sample_camera(np.random.default_rng([job.seed, 31, job.camera]))
    rendered, image = render_crop(app, rng, SIZE, camera, job.difficulty)
    if job.kind == "junk":  # a detector's bad box: only part of the person, stretched
        h, w = SIZE
        top = int(rng.integers(0, h // 2))
        image = image.crop((0, top, w, top + h // 2)).resize((w, h))
    save_jpeg(image, out / job.folder / job.name, camera.jpeg_quality)
    return job.name, rendered.people[0].keypoints[:17].tolist() if job.kind != "junk" else []


def _shots(
    seed: int, ids: range, folder_of: dict[str, str], difficulty: Difficulty, rng: np.random.Generator
) -> list[Shot]:
    """Images of each identity across 2..6 cameras; the first image per camera is the query."""
    shots = []
    for pid in ids:
        cams = sorted(
            rng.choice(np.arange(1, CAMERAS + 1), size=int(rng.integers(2, CAMERAS + 1)), replace=False)
        )
        for cam in cams:
            for k in range(int(rng.integers(2, 4))):
                folder = folder_of["first"] if k == 0 else folder_of["rest"]
                shots.append(
                    Shot(
                        seed,
                        pid,
                        pid + 1,
                        int(cam),
                        int(rng.integers(0, 200000)),
                        k + 1,
                        "person",
                        folder,
                        difficulty,
                    )
                )
    return shots


def write_market(
    out: Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
    identities: tuple[int, int] = (24, 24),
    difficulty: Difficulty = DEFAULT,
) -> None:
    """Write a Market-1501-style set with `identities` = (train ids, test ids) into `out`.

    `limit` caps the images of each folder (train, query, gallery); `scale` multiplies `identities`.
    """
    rng = np.random.default_rng([seed, 30])
    identities = (split_size(identities[0], scale), split_size(identities[1], scale))
    train_ids, test_ids = range(identities[0]), range(identities[0], sum(identities))
    train = _shots(
        seed, train_ids, {"first": "bounding_box_train", "rest": "bounding_box_train"}, difficulty, rng
    )
    test = _shots(seed, test_ids, {"first": "query", "rest": "bounding_box_test"}, difficulty, rng)
    query = [s for s in test if s.folder == "query"]
    gallery = [s for s in test if s.folder == "bounding_box_test"]
    extra = []
    for k in range(max(1, len(gallery) // 5)):  # distractors and junk, as Market's gallery has
        pid = test_ids[int(rng.integers(len(test_ids)))]
        kind = "distractor" if k % 2 == 0 else "junk"
        label = 0 if kind == "distractor" else -1
        extra.append(
            Shot(
                seed,
                pid,
                label,
                int(rng.integers(1, CAMERAS + 1)),
                int(rng.integers(0, 200000)),
                k % 9 + 1,
                kind,
                "bounding_box_test",
                difficulty,
            )
        )
    if limit is not None:  # keep distractors, and only queries whose identity is still in the gallery
        gallery = gallery[: max(limit - len(extra[: limit // 5]), 1)]
        seen = {(s.identity, s.camera) for s in gallery}
        query = [q for q in query if any(i == q.identity and c != q.camera for i, c in seen)]
        extra = extra[: limit // 5]
    jobs = [s for group in (train, query, gallery + extra) for s in group[:limit]]
    results = map_jobs(_render, [(j, out) for j in jobs], workers)
    tiles = [Tile(out / j.folder / name, [kp]) for j, (name, kp) in zip(jobs, results, strict=True) if kp][
        :16
    ]
    write_contact_sheet(tiles, out / "contact_sheet.png")
