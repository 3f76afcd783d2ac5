"""Compose placed people (and occluders) over a background into an image with all its labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from saip.synth.appearance import Appearance
from saip.synth.figure import FACE_BIT, FOOT_BITS, HAND_BITS, Primitive, person_primitives
from saip.synth.raster import Tables, paint, rasterize
from saip.synth.skeleton import FACE, FEET, LHAND, NUM_WHOLEBODY, RHAND, Body, view_of

# Owner bit of each of the 133 whole-body points.
_POINT_BIT = np.arange(NUM_WHOLEBODY)
_POINT_BIT[FEET] = [FOOT_BITS[0]] * 3 + [FOOT_BITS[1]] * 3
_POINT_BIT[FACE] = FACE_BIT
_POINT_BIT[LHAND], _POINT_BIT[RHAND] = HAND_BITS


@dataclass(frozen=True)
class Figure:
    """One person placed in an image: heels at `origin` (x, y) pixels, `scale` pixels per stature."""

    app: Appearance
    body: Body
    origin: tuple[float, float]
    scale: float
    pose_kind: str


@dataclass(frozen=True)
class PersonLabels:
    """Labels of one person in a composed image (boxes are [x, y, w, h] in pixels).

    Attributes:
        keypoints: [133, 3] COCO-WholeBody (x, y, v): v 2 visible, 1 hidden, 0 outside (x = y = 0).
        full_box: amodal box of the whole body, may extend past the image (CrowdHuman fbox).
        visible_box: tight box of the visible instance mask (COCO bbox, CrowdHuman vbox).
        head_box: box of the head (CrowdHuman hbox).
        area: visible mask pixels.
    """

    figure: Figure
    view: str
    keypoints: np.ndarray
    full_box: tuple[float, float, float, float]
    visible_box: tuple[float, float, float, float]
    head_box: tuple[float, float, float, float]
    area: int


@dataclass(frozen=True)
class Rendered:
    """A clean picture (before camera effects), the id map [H, W] it was painted from, and labels."""

    picture: Image.Image
    ids: np.ndarray
    prims: list[Primitive]
    tables: Tables
    people: list[PersonLabels]

    @property
    def image(self) -> np.ndarray:
        """The clean picture as an array [H, W, 3] (uint8)."""
        return np.asarray(self.picture)

    @property
    def parsing(self) -> np.ndarray:
        """LIP part labels [H, W] (uint8, 0..19)."""
        return self.tables.label[self.ids]

    @property
    def instances(self) -> np.ndarray:
        """Person instance ids [H, W] (int32, 0 background, k + 1 for people[k])."""
        return self.tables.person[self.ids]


def _bounds(prims: list[Primitive]) -> tuple[float, float, float, float]:
    xs = np.concatenate([np.asarray(p.coords[0::2]) for p in prims])
    ys = np.concatenate([np.asarray(p.coords[1::2]) for p in prims])
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def _xywh(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
    return (round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2))


def _keypoints(fig: Figure, k: int, ids: np.ndarray, tables: Tables) -> np.ndarray:
    """(x, y, v) of the 133 points: visible when the pixel under it shows one of its owners."""
    h, w = ids.shape
    xy = np.round(fig.body.points * fig.scale + np.asarray(fig.origin), 2)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    xi = np.clip(xy[:, 0].astype(np.int64), 0, w - 1)
    yi = np.clip(xy[:, 1].astype(np.int64), 0, h - 1)
    pid = ids[yi, xi]
    own = (tables.person[pid] == k) & ((tables.owners[pid] >> _POINT_BIT) & 1).astype(bool) & fig.body.facing
    v = np.where(inside, np.where(own, 2, 1), 0)
    xy[~inside] = 0.0
    return np.concatenate([xy, v[:, None]], 1)


def _primitives(
    figures: list[Figure], occluders: tuple[Primitive, ...]
) -> tuple[list[list[Primitive]], list[Primitive]]:
    per_person = [
        person_primitives(f.app, f.body, f.origin, f.scale, k + 1, seated=f.pose_kind == "sitting")
        for k, f in enumerate(figures)
    ]
    return per_person, [p for group in per_person for p in group] + list(occluders)


def paint_figures(
    figures: list[Figure], background: Image.Image, occluders: tuple[Primitive, ...] = ()
) -> Image.Image:
    """Only the picture of `compose` (no labels): for the unlabelled pretraining crops. The id map
    is drawn only when a garment has a pattern (paint needs it to find where the garment shows)."""
    prims = _primitives(figures, occluders)[1]
    w, h = background.size
    ids = rasterize(prims, (h, w)) if any(p.pattern for p in prims) else None
    return paint(prims, ids, background)


def compose(
    figures: list[Figure], background: Image.Image, occluders: tuple[Primitive, ...] = ()
) -> Rendered:
    """Paint `figures` (listed far to near) and then `occluders` over `background` (RGB), with labels."""
    w, h = background.size
    per_person, prims = _primitives(figures, occluders)
    ids = rasterize(prims, (h, w))
    tables = Tables.of(prims)
    instances = tables.person[ids]
    people = []
    for k, (fig, group) in enumerate(zip(figures, per_person, strict=True), start=1):
        mask = instances == k
        ys, xs = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        visible = _xywh(xs[0], ys[0], xs[-1] + 1, ys[-1] + 1) if xs.size else (0.0, 0.0, 0.0, 0.0)
        head, _ = fig.body.extra["head"]
        cx, cy = head * fig.scale + np.asarray(fig.origin)
        rx, ry = fig.body.sizes["head_rx"] * fig.scale, fig.body.sizes["head_ry"] * fig.scale
        people.append(
            PersonLabels(
                figure=fig,
                view=view_of(fig.body.yaw),
                keypoints=_keypoints(fig, k, ids, tables),
                full_box=_xywh(*_bounds([p for p in group if p.person == k])),
                visible_box=visible,
                head_box=_xywh(cx - 1.1 * rx, cy - 1.3 * ry, cx + 1.1 * rx, cy + 1.05 * ry),
                area=int(np.count_nonzero(mask)),
            )
        )
    return Rendered(picture=paint(prims, ids, background), ids=ids, prims=prims, tables=tables, people=people)
