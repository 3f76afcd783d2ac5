"""Single-person crops, as a pedestrian detector would cut them, with optional occluders."""

from __future__ import annotations

import numpy as np
from PIL import Image

from saip.synth.appearance import Appearance, sample_appearance
from saip.synth.background import draw_background
from saip.synth.camera import Camera, apply_camera, sample_camera
from saip.synth.compose import Figure, Rendered, compose, paint_figures
from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.figure import Primitive
from saip.synth.sampling import random_colour
from saip.synth.skeleton import build_body, sample_pose


def _occluder(rng: np.random.Generator, size: tuple[int, int]) -> Primitive:
    """A car, bench or sign in front of the person's legs, or a pole in front of one side."""
    h, w = size
    colour = random_colour(rng, 20, 230)
    if rng.random() < 0.6:
        top = float(rng.uniform(0.55, 0.85) * h)
        x0, x1 = sorted(float(v) for v in rng.uniform(-0.3, 1.3, 2) * w)
        x1 = max(x1, x0 + 0.4 * w)
        coords = (x0, top, x1, top, x1, h + 1.0, x0, h + 1.0)
    else:
        x0 = float(rng.uniform(0.0, 0.85) * w)
        width = float(rng.uniform(0.08, 0.25) * w)
        coords = (x0, -1.0, x0 + width, -1.0, x0 + width, h + 1.0, x0, h + 1.0)
    return Primitive("poly", coords, 1e9, 0, colour)


def _layout(
    app: Appearance, rng: np.random.Generator, size: tuple[int, int], difficulty: Difficulty, view: str | None
) -> tuple[Figure, Image.Image, tuple[Primitive, ...]]:
    """Pose `app`, frame it as a detector box would (fill 78-95 % of the height), pick a
    background and maybe an occluder."""
    h, w = size
    pose = sample_pose(rng, app, view)
    body = build_body(app, pose)
    top = float(body.extra["head"][0][1] - 1.3 * body.sizes["head_ry"])
    x_lo, x_hi = float(body.points[:, 0].min()), float(body.points[:, 0].max())
    width = x_hi - x_lo + 4 * body.sizes["thigh_r"]
    scale = min(float(rng.uniform(0.78, 0.95)) * h / -top, 0.95 * w / width)
    free_y = h - scale * -top
    origin = (
        w / 2 - scale * (x_lo + x_hi) / 2 + float(rng.uniform(-0.06, 0.06)) * w,
        h - free_y * float(rng.uniform(0.2, 0.8)),
    )
    background, _ = draw_background(rng, size, difficulty.clutter)
    occluders = (_occluder(rng, size),) if rng.random() < difficulty.occlusion else ()
    return Figure(app, body, origin, scale, pose.kind), background, occluders


def render_crop(
    app: Appearance,
    rng: np.random.Generator,
    size: tuple[int, int],
    camera: Camera,
    difficulty: Difficulty = DEFAULT,
    view: str | None = None,
) -> tuple[Rendered, Image.Image]:
    """One labelled crop of `app` (size (H, W)): the clean render and the camera's picture of it."""
    figure, background, occluders = _layout(app, rng, size, difficulty, view)
    rendered = compose([figure], background, occluders)
    return rendered, apply_camera(rendered.picture, camera, rng)


def render_person(seed: int, size: tuple[int, int] = (256, 128)) -> Image.Image:
    """One unlabelled RGB person crop of `size` (H, W), everything drawn from `seed`.

    The built-in synthetic pretraining set: identity, pose, view, background, occluder and
    camera are all derived from `seed` (never from global RNG state), so DataLoader workers can
    render item i on the fly and always get the same picture.
    """
    if size[0] < 16 or size[1] < 8:
        raise ValueError(f"person crop size must be at least (16, 8), got {size}")
    rng = np.random.default_rng([seed, 1])
    app = sample_appearance(rng)
    camera = sample_camera(rng)
    figure, background, occluders = _layout(app, rng, size, DEFAULT, None)
    return apply_camera(paint_figures([figure], background, occluders), camera, rng)
