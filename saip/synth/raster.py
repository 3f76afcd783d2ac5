"""Painter's-algorithm drawing of primitives: an id map of who is on top, and the picture.

Why an id map: a PIL pass in mode "I" (one int per pixel) records which primitive is on top
everywhere; the LIP part map, instance map and keypoint visibility are then table look-ups
(NumPy fancy indexing) with no per-pixel Python, and cannot disagree with the picture, which is
drawn from the same shapes in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from saip.synth.figure import CHECKS, SPLICE, STRIPES, Primitive


@dataclass(frozen=True)
class Tables:
    """Per-primitive look-up tables, index 0 is "no primitive"; shapes [P + 1, ...]."""

    label: np.ndarray
    person: np.ndarray
    owners: np.ndarray

    @classmethod
    def of(cls, prims: list[Primitive]) -> Tables:
        return cls(
            label=np.array([0] + [p.label for p in prims], np.uint8),
            person=np.array([0] + [p.person for p in prims], np.int32),
            owners=np.array([0] + [p.owners for p in prims], np.int64),
        )


def _draw(
    draw: ImageDraw.ImageDraw,
    p: Primitive,
    fill: int | tuple[int, int, int],
    outline: int | tuple[int, int, int] | None = None,
) -> None:
    if p.shape == "ellipse":
        x0, y0, x1, y1 = p.coords
        draw.ellipse((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)), fill=fill, outline=outline)
    else:
        draw.polygon(p.coords, fill=fill, outline=outline)


def rasterize(prims: list[Primitive], size: tuple[int, int]) -> np.ndarray:
    """Draw `prims` in list order (far first) into an id map [H, W] (0 = nothing): uint8 when
    there are fewer than 256 primitives (a crop; cheaper to draw), else int32 (a crowd)."""
    h, w = size
    canvas = Image.new("L" if len(prims) < 256 else "I", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for i, p in enumerate(prims, start=1):
        _draw(draw, p, i)
    return np.asarray(canvas)


def _pattern(code: int, period: float, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Where the second colour shows, on the pixel grid ys [h, 1] x xs [1, w]."""
    row, col = (ys / period).astype(np.int32), (xs / period).astype(np.int32)
    if code == STRIPES:  # horizontal
        return np.broadcast_to(row % 2 == 1, (ys.size, xs.size))
    if code == CHECKS:
        return (row + col) % 2 == 1
    if code == SPLICE:  # another colour below row `period`
        return np.broadcast_to(ys > period, (ys.size, xs.size))
    return np.broadcast_to(col % 3 == 0, (ys.size, xs.size))  # PINSTRIPES: thin vertical stripes


def _box(prims: list[Primitive], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1) around `prims`, clipped to the image (H, W)."""
    xs = [v for p in prims for v in p.coords[0::2]]
    ys = [v for p in prims for v in p.coords[1::2]]
    return (
        max(int(min(xs)), 0),
        max(int(min(ys)), 0),
        min(int(max(xs)) + 2, size[1]),
        min(int(max(ys)) + 2, size[0]),
    )


def paint(prims: list[Primitive], ids: np.ndarray | None, background: Image.Image) -> Image.Image:
    """Paint `prims` in list order over a copy of `background` (RGB): fills, outlines, patterns.

    Fills and outlines are drawn by PIL. Patterns come after, once per garment (primitives
    sharing pattern, colours and period), inside the garment's box and only where the id map
    shows one of its primitives, so whatever was drawn over the garment stays on top. `ids` may be
    None only when no primitive has a pattern.
    """
    canvas = background.copy()
    draw = ImageDraw.Draw(canvas)
    garments: dict[tuple, list[int]] = {}
    for i, p in enumerate(prims, start=1):
        _draw(draw, p, p.colour, tuple(v * 3 // 4 for v in p.colour))
        if p.pattern:
            garments.setdefault((p.pattern, p.period, p.colour, p.colour2), []).append(i)
    if garments and ids is None:
        raise ValueError("patterned garments need the id map")
    for (code, period, _, colour2), members in garments.items():
        x0, y0, x1, y1 = _box([prims[i - 1] for i in members], ids.shape)
        if x1 <= x0 or y1 <= y0:
            continue
        is_member = np.zeros(len(prims) + 1, dtype=bool)
        is_member[members] = True
        sel = is_member[ids[y0:y1, x0:x1]] & _pattern(
            code, period, np.arange(y0, y1)[:, None], np.arange(x0, x1)[None, :]
        )
        if sel.any():
            box = np.array(canvas.crop((x0, y0, x1, y1)))
            box[sel] = colour2
            canvas.paste(Image.fromarray(box), (x0, y0))
    return canvas
