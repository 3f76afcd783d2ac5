"""Scene-like backgrounds without people: street, indoor or park, with adjustable clutter.

Why not noise: pretraining and the search objective need backgrounds with edges, repeated
structure and object-like blobs, so that "where is the person" is not solved by colour alone.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from saip.synth.sampling import random_colour

SCENES = ("street", "indoor", "park")


def _gradient(
    img: Image.Image, top: tuple[int, int, int], bottom: tuple[int, int, int], y0: int, y1: int
) -> None:
    """A vertical colour ramp over rows y0..y1: one column, stretched by PIL (no per-pixel work)."""
    if y1 <= y0:
        return
    t = np.linspace(0.0, 1.0, y1 - y0)[:, None, None]
    column = ((1 - t) * np.asarray(top) + t * np.asarray(bottom)).astype(np.uint8)
    img.paste(Image.fromarray(column).resize((img.width, y1 - y0), Image.NEAREST), (0, y0))


def _windows(
    img: Image.Image, corner: tuple[int, int], grid: tuple[int, int], step: int, colour: tuple[int, int, int]
) -> None:
    """A (rows, cols) grid of window panes from `corner` (x, y): one masked paste, not one
    rectangle per pane."""
    rows, cols = grid
    if rows < 1 or cols < 1:
        return
    ys, xs = np.arange(rows * step)[:, None], np.arange(cols * step)[None, :]
    mask = ((ys % step < 0.55 * step) & (xs % step < 0.5 * step)).astype(np.uint8) * 255
    img.paste(
        colour,
        (corner[0], corner[1], corner[0] + cols * step, corner[1] + rows * step),
        Image.fromarray(mask),
    )


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
    img = Image.new("RGB", (w, h))
    _gradient(img, *upper, 0, hz)
    _gradient(img, *ground, hz, h)
    draw = ImageDraw.Draw(img)
    scale = h / 256
    n_back = int(rng.integers(1, 3 + int(6 * clutter)))
    for _ in range(n_back):  # buildings, shelves or hedges along the horizon
        x0 = float(rng.uniform(-0.2, 1.0) * w)
        bw, bh = float(rng.uniform(0.15, 0.6) * w), float(rng.uniform(0.1, 0.5) * horizon + 0.1 * h)
        colour = random_colour(rng, 40, 220)
        if kind == "park":
            draw.ellipse(
                (x0, hz - bh, x0 + bw, hz + 0.05 * h),
                fill=(colour[0] // 3, colour[1] // 2 + 40, colour[2] // 3),
            )
            continue
        draw.rectangle((x0, hz - bh, x0 + bw, hz), fill=colour)
        step = max(4, int(rng.uniform(10, 24) * scale))
        _windows(
            img,
            (int(x0 + 0.3 * step), int(hz - bh + 0.4 * step)),
            (min(5, int(bh / step)), min(6, int(bw / step))),
            step,
            (colour[0] * 3 // 5, colour[1] * 3 // 5, colour[2] * 3 // 5),
        )
    for _ in range(int(rng.poisson(1 + 8 * clutter))):  # poles, trees, cars, bins, signs
        x = float(rng.uniform(0, w))
        y = float(rng.uniform(horizon, h * 1.1))
        size_px = (y - horizon + 0.05 * h) * float(rng.uniform(0.2, 0.7))
        colour = random_colour(rng, 20, 230)
        shape = int(rng.integers(4))
        if shape == 0:
            draw.rectangle((x, y - 1.5 * size_px, x + max(1.0, 0.04 * size_px), y), fill=colour)
        elif shape == 1:
            draw.rectangle((x - 0.04 * size_px, y - 0.6 * size_px, x + 0.04 * size_px, y), fill=(90, 60, 40))
            draw.ellipse(
                (x - 0.35 * size_px, y - 1.3 * size_px, x + 0.35 * size_px, y - 0.5 * size_px),
                fill=(40, int(rng.integers(90, 160)), 50),
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
