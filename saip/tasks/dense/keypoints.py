"""Keypoint sets: COCO person (17) and COCO-WholeBody (133), with OKS sigmas, flip pairs and parts.

Why one description per set: the dataset reader, the heatmap flip test and the OKS evaluation
must agree on the order of points, so each reads it from here. Sigmas are the per-point OKS
falloffs published with the datasets (COCO keypoint evaluation; COCO-WholeBody, Jin et al.,
ECCV 2020, its `myeval_wholebody.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saip.tasks.dense.flip import swap_index

COCO_SIGMAS = (
    0.026,
    0.025,
    0.025,
    0.035,
    0.035,
    0.079,
    0.079,
    0.072,
    0.072,
    0.062,
    0.062,
    0.107,
    0.107,
    0.087,
    0.087,
    0.089,
    0.089,
)
FOOT_SIGMAS = (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)
FACE_SIGMAS = (
    0.042,
    0.043,
    0.044,
    0.043,
    0.040,
    0.035,
    0.031,
    0.025,
    0.020,
    0.023,
    0.029,
    0.032,
    0.037,
    0.038,
    0.043,
    0.041,
    0.045,
    0.013,
    0.012,
    0.011,
    0.011,
    0.012,
    0.012,
    0.011,
    0.011,
    0.013,
    0.015,
    0.009,
    0.007,
    0.007,
    0.007,
    0.012,
    0.009,
    0.008,
    0.016,
    0.010,
    0.017,
    0.011,
    0.009,
    0.011,
    0.009,
    0.007,
    0.013,
    0.008,
    0.011,
    0.012,
    0.010,
    0.034,
    0.008,
    0.008,
    0.009,
    0.008,
    0.008,
    0.007,
    0.010,
    0.008,
    0.009,
    0.009,
    0.009,
    0.007,
    0.007,
    0.008,
    0.011,
    0.008,
    0.008,
    0.008,
    0.01,
    0.008,
)
HAND_SIGMAS = (
    0.029,
    0.022,
    0.035,
    0.037,
    0.047,
    0.026,
    0.025,
    0.024,
    0.035,
    0.018,
    0.024,
    0.022,
    0.026,
    0.017,
    0.021,
    0.021,
    0.032,
    0.02,
    0.019,
    0.022,
    0.031,
)

# Left/right pairs, 0-based. Body: eyes, ears, shoulders, elbows, wrists, hips, knees, ankles.
BODY_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
# Inside the 68-point face (iBUG order): jaw, brows, nostrils, eyes, outer and inner lips.
FACE_PAIRS = (
    *((i, 16 - i) for i in range(8)),
    *((17 + i, 26 - i) for i in range(5)),
    (31, 35),
    (32, 34),
    (36, 45),
    (37, 44),
    (38, 43),
    (39, 42),
    (40, 47),
    (41, 46),
    (48, 54),
    (49, 53),
    (50, 52),
    (55, 59),
    (56, 58),
    (60, 64),
    (61, 63),
    (65, 67),
)


@dataclass(frozen=True)
class Part:
    """A contiguous block of the keypoint vector, stored under `key` in the annotation JSON."""

    name: str
    key: str
    start: int
    stop: int


@dataclass(frozen=True)
class KeypointSet:
    name: str
    sigmas: tuple[float, ...]
    pairs: tuple[tuple[int, int], ...]
    parts: tuple[Part, ...]
    annotation: str  # file name pattern under ROOT/annotations, `{split}` is train or val

    @property
    def num(self) -> int:
        return len(self.sigmas)

    def flip_index(self) -> np.ndarray:
        """Permutation p such that point i of a mirrored person is point p[i] of the original."""
        return swap_index(self.num, self.pairs)

    def gather(self, ann: dict) -> np.ndarray:
        """The annotation's points as [K, 3] (x, y, v), parts concatenated in order."""
        flat = [v for part in self.parts for v in ann.get(part.key) or [0.0] * (3 * (part.stop - part.start))]
        return np.asarray(flat, dtype=np.float64).reshape(self.num, 3)

    def scatter(self, points: np.ndarray) -> dict[str, list[float]]:
        """[K, 3] back to the dataset's JSON fields (the COCO results format of this set)."""
        return {p.key: [round(float(v), 3) for v in points[p.start : p.stop].reshape(-1)] for p in self.parts}


COCO_BODY = KeypointSet(
    "coco", COCO_SIGMAS, BODY_PAIRS, (Part("body", "keypoints", 0, 17),), "person_keypoints_{split}2017.json"
)
COCO_WHOLEBODY = KeypointSet(
    "wholebody",
    COCO_SIGMAS + FOOT_SIGMAS + FACE_SIGMAS + HAND_SIGMAS + HAND_SIGMAS,
    BODY_PAIRS
    + ((17, 20), (18, 21), (19, 22))
    + tuple((23 + a, 23 + b) for a, b in FACE_PAIRS)
    + tuple((91 + i, 112 + i) for i in range(21)),
    (
        Part("body", "keypoints", 0, 17),
        Part("foot", "foot_kpts", 17, 23),
        Part("face", "face_kpts", 23, 91),
        Part("lefthand", "lefthand_kpts", 91, 112),
        Part("righthand", "righthand_kpts", 112, 133),
    ),
    "coco_wholebody_{split}_v1.0.json",
)
KEYPOINT_SETS = {s.name: s for s in (COCO_BODY, COCO_WHOLEBODY)}
