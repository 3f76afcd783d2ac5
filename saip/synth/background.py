"""Scene-like backgrounds without people: street, indoor or park, with adjustable clutter.

Why not noise: pretraining and the search objective need backgrounds with edges, repeated
structure and object-like blobs, so that "where is the person" is not solved by colour alone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from saip.synth.sampling import random_colour

SCENES = ("street", "indoor", "park")


def _sky_and_ground(
    size: tuple[int, int],
    horizon: int,
    upper: tuple[tuple[int, int, int], ...],
    ground: tuple[tuple[int, int, int], ...],
) -> Image.Image:
    """Two vertical colour ramps (top..horizon, horizon..bottom) as one image of `size` (H, W):
    one column, stretched by PIL (no per-pixel work)."""
    h, w = size

    def ramp(top: tuple[int, int, int], bottom: tuple[int, int, int], rows: int) -> np.ndarray:
        t = np.linspace(0.0, 1.0, rows)[:, None]
        return (1 - t) * np.asarray(top) + t * np.asarray(bottom)

    column = np.concatenate([ramp(*upper, horizon), ramp(*ground, h - horizon)]).astype(np.uint8)
    return Image.fromarray(column[:, None, :]).resize((w, h), Image.NEAREST)


@lru_cache(maxsize=1024)
def _pane_mask(rows: int, cols: int, step: int) -> Image.Image:
    """Mode-L mask of a (rows, cols) grid of window panes, `step` pixels apart."""
    ys, xs = np.arange(rows * step)[:, None], np.arange(cols * step)[None, :]
    return Image.fromarray(((ys % step < 0.55 * step) & (xs % step < 0.5 * step)).astype(np.uint8) * 255)


def _windows(
    img: Image.Image, corner: tuple[int, int], grid: tuple[int, int], step: int, colour: tuple[int, int, int]
) -> None:
    """A (rows, cols) grid of window panes from `corner` (x, y): one masked paste, not one
    rectangle per pane."""
    rows, cols = grid
    if rows < 1 or cols < 1:
        return
    box = (corner[0], corner[1], corner[0] + cols * step, corner[1] + rows * step)
    img.paste(colour, box, _pane_mask(rows, cols, step))


def draw_background(
    rng: np.random.Generator, size: tuple[int, int], clutter: float = 0.5
) -> tuple[Image.Image, float]:
    """A background (RGB, size (H, W)) and its horizon row (people's feet are below it)."""
    h, w = size
    kind = SCENES[int(rng.integers(len(SCENES)))]
    horizon = float(rng.uniform(0.3, 0.6) * h)
    hz = int(horizon)
    if kind == "street":
        upper, ground = (
            (random_colour(rng, 150, 240), random_colour(rng, 100, 200)),
            (random_colour(rng, 70, 140), random_colour(rng, 100, 170)),
        )
    elif kind == "park":
        upper, ground = (
            ((120, 170, 230), (200, 220, 240)),
            (random_colour(rng, 40, 110), random_colour(rng, 80, 150)),
        )
    else:
        wall = random_colour(rng, 120, 230)
        upper, ground = (
            (wall, tuple(int(0.85 * v) for v in wall)),
            (random_colour(rng, 60, 160), random_colour(rng, 90, 190)),
        )
    img = _sky_and_ground(size, hz, upper, ground)
    draw = ImageDraw.Draw(img)
    scale = h / 256
    # Shapes take their numbers from one block of uniforms each (a NumPy call per shape costs more
    # than drawing it).
    for u in rng.random((int(rng.integers(1, 3 + int(6 * clutter))), 7)).tolist():
        # buildings, shelves or hedges along the horizon
        x0, bw, bh = (1.2 * u[0] - 0.2) * w, (0.15 + 0.45 * u[1]) * w, (0.1 + 0.4 * u[2]) * horizon + 0.1 * h
        colour = (40 + int(180 * u[3]), 40 + int(180 * u[4]), 40 + int(180 * u[5]))
        if kind == "park":
            draw.ellipse(
                (x0, hz - bh, x0 + bw, hz + 0.05 * h),
                fill=(colour[0] // 3, colour[1] // 2 + 40, colour[2] // 3),
            )
            continue
        draw.rectangle((x0, hz - bh, x0 + bw, hz), fill=colour)
        step = max(4, int((10 + 14 * u[6]) * scale))
        _windows(
            img,
            (int(x0 + 0.3 * step), int(hz - bh + 0.4 * step)),
            (min(5, int(bh / step)), min(6, int(bw / step))),
            step,
            (colour[0] * 3 // 5, colour[1] * 3 // 5, colour[2] * 3 // 5),
        )
    for u in rng.random((int(rng.poisson(1 + 8 * clutter)), 8)).tolist():  # poles, trees, cars, bins
        x, y = u[0] * w, horizon + u[1] * (1.1 * h - horizon)
        size_px = (y - horizon + 0.05 * h) * (0.2 + 0.5 * u[2])
        colour = (20 + int(210 * u[3]), 20 + int(210 * u[4]), 20 + int(210 * u[5]))
        shape = int(4 * u[6])
        if shape == 0:
            draw.rectangle((x, y - 1.5 * size_px, x + max(1.0, 0.04 * size_px), y), fill=colour)
        elif shape == 1:
            draw.rectangle((x - 0.04 * size_px, y - 0.6 * size_px, x + 0.04 * size_px, y), fill=(90, 60, 40))
            draw.ellipse(
                (x - 0.35 * size_px, y - 1.3 * size_px, x + 0.35 * size_px, y - 0.5 * size_px),
                fill=(40, 90 + int(70 * u[7]), 50),
            )
        elif shape == 2:
            draw.rounded_rectangle(
                (x, y - 0.45 * size_px, x + 1.2 * size_px, y - 0.05 * size_px),
                radius=0.1 * size_px,
                fill=colour,
            )
            for wx in (x + 0.25 * size_px, x + 0.95 * size_px):
                draw.ellipse(
                    (wx - 0.1 * size_px, y - 0.15 * size_px, wx + 0.1 * size_px, y + 0.05 * size_px),
                    fill=(20, 20, 20),
                )
        else:
            draw.rectangle((x, y - 0.35 * size_px, x + 0.25 * size_px, y), fill=colour)
    if kind == "street":
        lane = random_colour(rng, 180, 250)
        for k in range(int(rng.integers(0, 4))):
            y = hz + (k + 1) * (h - hz) / 5
            draw.line(
                (0, y, w, y + float(rng.uniform(-0.1, 0.1)) * h), fill=lane, width=max(1, int(2 * scale))
            )
    return img, horizon


def render_background(seed: int, size: tuple[int, int]) -> Image.Image:
    """A person-free scene of `size` (H, W), deterministic in `seed` (RGB PIL image)."""
    if size[0] < 8 or size[1] < 8:
        raise ValueError(f"background size must be at least (8, 8), got {size}")
    image, _ = draw_background(np.random.default_rng([seed, 2]), size)
    return image
