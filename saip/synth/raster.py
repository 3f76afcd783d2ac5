"""Painter's-algorithm rasterisation of primitives into one id map, and their colours.

Why an id map: a PIL pass in mode "I" (one int per pixel) records which primitive is on top
everywhere; the LIP part map, instance map and keypoint visibility are then table look-ups
(NumPy fancy indexing) with no per-pixel Python, and can never disagree with the picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from saip.synth.figure import Primitive


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


def _draw(draw: ImageDraw.ImageDraw, p: Primitive, fill: int | tuple[int, int, int], outline: int | tuple[int, int, int] | None = None) -> None:
    if p.shape == "ellipse":
        x0, y0, x1, y1 = p.coords
        draw.ellipse((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)), fill=fill, outline=outline)
    else:
        draw.polygon(p.coords, fill=fill, outline=outline)


def rasterize(prims: list[Primitive], size: tuple[int, int]) -> np.ndarray:
    """Draw `prims` in list order (far first) into an id map [H, W] (int32, 0 = nothing)."""
    h, w = size
    canvas = Image.new("I", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    for i, p in enumerate(prims, start=1):
        _draw(draw, p, i)
    return np.asarray(canvas, dtype=np.int32)


def _pattern(code: int, period: float, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Where the second colour shows, on the pixel grid ys [h, 1] x xs [1, w]."""
    row, col = (ys / period).astype(np.int32), (xs / period).astype(np.int32)
    if code == 1:  # horizontal stripes
        return np.broadcast_to(row % 2 == 1, (ys.size, xs.size))
    if code == 2:  # checks
        return (row + col) % 2 == 1
    if code == 3:  # splice: another colour below row `period`
        return np.broadcast_to(ys > period, (ys.size, xs.size))
    return np.broadcast_to(col % 3 == 0, (ys.size, xs.size))  # vertical pinstripes


def paint(prims: list[Primitive], ids: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Colour `prims` over `background` [H, W, 3] (uint8): flat colours, outlines, patterns.

    Flat colours and outlines are drawn by PIL straight onto the background; patterns are then
    computed inside the box of each patterned primitive, at the pixels the id map gives it.
    """
    canvas = Image.fromarray(background)
    draw = ImageDraw.Draw(canvas)
    for p in prims:
        _draw(draw, p, p.colour, tuple(v * 3 // 4 for v in p.colour))
    out = np.array(canvas)
    h, w = ids.shape
    for i, p in enumerate(prims, start=1):
        if not p.pattern:
            continue
        x0, x1 = max(int(min(p.coords[0::2])), 0), min(int(max(p.coords[0::2])) + 2, w)
        y0, y1 = max(int(min(p.coords[1::2])), 0), min(int(max(p.coords[1::2])) + 2, h)
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = np.arange(y0, y1)[:, None], np.arange(x0, x1)[None, :]
        sel = (ids[y0:y1, x0:x1] == i) & _pattern(p.pattern, p.period, ys, xs)
        out[y0:y1, x0:x1][sel] = p.colour2
    return out
