"""Scene-like backgrounds without people: street, indoor or park, with adjustable clutter.

Why not noise: pretraining and the search objective need backgrounds with edges, repeated
structure and object-like blobs, so that "where is the person" is not solved by colour alone.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SCENES = ("street", "indoor", "park")


def _rgb(rng: np.random.Generator, lo: int = 40, hi: int = 220) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))  # type: ignore[return-value]


def _gradient(draw: ImageDraw.ImageDraw, top: tuple[int, int, int], bottom: tuple[int, int, int], y0: float, y1: float, width: int, bands: int = 8) -> None:
    """A vertical colour ramp as horizontal bands (cheaper than a per-pixel ramp, looks the same
    after the camera blur)."""
    edges = np.linspace(y0, y1, bands + 1)
    for k in range(bands):
        t = k / max(bands - 1, 1)
        colour = tuple(int((1 - t) * a + t * b) for a, b in zip(top, bottom, strict=True))
        draw.rectangle((0, edges[k], width, edges[k + 1]), fill=colour)


def draw_background(rng: np.random.Generator, size: tuple[int, int], clutter: float = 0.5) -> tuple[Image.Image, float]:
    """A background (RGB, size (H, W)) and its horizon row (people's feet are below it)."""
    h, w = size
    kind = SCENES[int(rng.integers(len(SCENES)))]
    horizon = float(rng.uniform(0.3, 0.6) * h)
    hz = int(horizon)
    if kind == "street":
        upper, ground = (_rgb(rng, 150, 240), _rgb(rng, 100, 200)), (_rgb(rng, 70, 140), _rgb(rng, 100, 170))
    elif kind == "park":
        upper, ground = ((120, 170, 230), (200, 220, 240)), (_rgb(rng, 40, 110), _rgb(rng, 80, 150))
    else:
        wall = _rgb(rng, 120, 230)
        upper, ground = (wall, tuple(int(0.85 * v) for v in wall)), (_rgb(rng, 60, 160), _rgb(rng, 90, 190))
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    _gradient(draw, *upper, 0, horizon, w)
    _gradient(draw, *ground, horizon, h, w)
    scale = h / 256
    n_back = int(rng.integers(1, 3 + int(6 * clutter)))
    for _ in range(n_back):  # buildings, shelves or hedges along the horizon
        x0 = float(rng.uniform(-0.2, 1.0) * w)
        bw, bh = float(rng.uniform(0.15, 0.6) * w), float(rng.uniform(0.1, 0.5) * horizon + 0.1 * h)
        colour = _rgb(rng)
        if kind == "park":
            draw.ellipse((x0, hz - bh, x0 + bw, hz + 0.05 * h), fill=(colour[0] // 3, colour[1] // 2 + 40, colour[2] // 3))
            continue
        draw.rectangle((x0, hz - bh, x0 + bw, hz), fill=colour)
        step = max(4.0, float(rng.uniform(10, 24)) * scale)
        window = tuple(int(v * 0.6) for v in colour)
        rows = np.arange(hz - bh + step * 0.4, hz - step * 0.6, step)[:5]
        for wx in np.arange(x0 + step * 0.3, x0 + bw - step * 0.5, step)[:6]:  # columns of windows
            for wy in rows:
                draw.rectangle((wx, wy, wx + step * 0.5, wy + step * 0.55), fill=window)
    for _ in range(int(rng.poisson(1 + 8 * clutter))):  # poles, trees, cars, bins, signs
        x = float(rng.uniform(0, w))
        y = float(rng.uniform(horizon, h * 1.1))
        size_px = (y - horizon + 0.05 * h) * float(rng.uniform(0.2, 0.7))
        colour = _rgb(rng, 20, 230)
        shape = int(rng.integers(4))
        if shape == 0:
            draw.rectangle((x, y - 1.5 * size_px, x + max(1.0, 0.04 * size_px), y), fill=colour)
        elif shape == 1:
            draw.rectangle((x - 0.04 * size_px, y - 0.6 * size_px, x + 0.04 * size_px, y), fill=(90, 60, 40))
            draw.ellipse((x - 0.35 * size_px, y - 1.3 * size_px, x + 0.35 * size_px, y - 0.5 * size_px), fill=(40, int(rng.integers(90, 160)), 50))
        elif shape == 2:
            draw.rounded_rectangle((x, y - 0.45 * size_px, x + 1.2 * size_px, y - 0.05 * size_px), radius=0.1 * size_px, fill=colour)
            for wx in (x + 0.25 * size_px, x + 0.95 * size_px):
                draw.ellipse((wx - 0.1 * size_px, y - 0.15 * size_px, wx + 0.1 * size_px, y + 0.05 * size_px), fill=(20, 20, 20))
        else:
            draw.rectangle((x, y - 0.35 * size_px, x + 0.25 * size_px, y), fill=colour)
    if kind == "street":
        lane = _rgb(rng, 180, 250)
        for k in range(int(rng.integers(0, 4))):
            y = hz + (k + 1) * (h - hz) / 5
            draw.line((0, y, w, y + float(rng.uniform(-0.1, 0.1)) * h), fill=lane, width=max(1, int(2 * scale)))
    return img, horizon


def render_background(seed: int, size: tuple[int, int]) -> Image.Image:
    """A person-free scene of `size` (H, W), deterministic in `seed` (RGB PIL image)."""
    if size[0] < 8 or size[1] < 8:
        raise ValueError(f"background size must be at least (8, 8), got {size}")
    image, _ = draw_background(np.random.default_rng([seed, 2]), size)
    return image
