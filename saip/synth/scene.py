"""Multi-person scenes: people standing on a ground plane, smaller towards the horizon."""

from __future__ import annotations

import numpy as np
from PIL import Image

from saip.synth.appearance import sample_appearance
from saip.synth.background import draw_background
from saip.synth.camera import apply_camera, sample_camera
from saip.synth.compose import Figure, Rendered, compose
from saip.synth.difficulty import DEFAULT, Difficulty
from saip.synth.skeleton import build_body, sample_pose


def scene_size(rng: np.random.Generator, long_side: tuple[int, int] = (512, 1024)) -> tuple[int, int]:
    """A scene size (H, W): long side in `long_side`, aspect 3:4, 1:1 or 4:3, multiples of 32."""
    side = int(rng.integers(long_side[0] // 32, long_side[1] // 32 + 1)) * 32
    aspect = (0.75, 1.0, 1.333)[int(rng.integers(3))]
    short = int(round(side * min(aspect, 1 / aspect) / 32)) * 32
    return (short, side) if aspect < 1 else (side, short) if aspect > 1 else (side, side)


def render_scene(
    rng: np.random.Generator, size: tuple[int, int], max_people: int = 8, difficulty: Difficulty = DEFAULT
) -> tuple[Rendered, Image.Image]:
    """A labelled scene of 1..max_people people at varied depths (size (H, W)).

    Perspective: a person's height in pixels is proportional to the distance of their feet
    below the horizon, so far people are small; `difficulty.occlusion` is the chance that a
    person stands right next to an earlier one, which makes overlaps and crowds.
    """
    if max_people < 1:
        raise ValueError(f"max_people must be >= 1, got {max_people}")
    h, w = size
    background, horizon = draw_background(rng, size, difficulty.clutter)
    camera_height = float(rng.uniform(0.9, 1.5))  # stature in pixels per pixel below the horizon
    placed: list[tuple[float, float, float]] = []  # (foot y, foot x, stature px)
    for _ in range(int(rng.integers(1, max_people + 1))):
        foot_y = horizon + (1.02 * h - horizon) * float(rng.uniform(0.12, 1.0))
        stature = (foot_y - horizon) * camera_height
        if placed and rng.random() < difficulty.occlusion:
            ref_y, ref_x, ref_s = placed[int(rng.integers(len(placed)))]
            foot_y = min(1.02 * h, ref_y + float(rng.uniform(-0.1, 0.15)) * ref_s)
            stature = (foot_y - horizon) * camera_height
            foot_x = ref_x + float(rng.uniform(-0.35, 0.35)) * stature
        else:
            foot_x = float(rng.uniform(-0.05, 1.05)) * w
        placed.append((foot_y, foot_x, stature))
    placed.sort()
    figures = []
    for foot_y, foot_x, stature in placed:
        app = sample_appearance(rng)
        pose = sample_pose(rng, app)
        figures.append(Figure(app, build_body(app, pose), (foot_x, foot_y), stature, pose.kind))
    rendered = compose(figures, background)
    return rendered, apply_camera(rendered.picture, sample_camera(rng), rng)
