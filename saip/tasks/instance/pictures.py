"""A picture of detections for the run directory: what AP cannot show (boxes that drift to heads,
duplicates in crowds, people missed behind others, detections piling into ignore regions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from torch import Tensor

from saip.tasks.dense.pictures import grid

CELL = (320, 320)  # (W, H) each image is fitted into


def detection_tile(
    image: Tensor,
    truth: np.ndarray,
    ignore: np.ndarray,
    boxes: np.ndarray,
    scores: np.ndarray,
    threshold: float,
) -> Image.Image:
    """One image [3, H, W] in 0..1 with its targets (green), ignore regions (grey) and the
    detections scoring >= `threshold` (red), fitted into `CELL`."""
    tile = Image.fromarray((image.float().clamp(0, 1) * 255).byte().permute(1, 2, 0).cpu().numpy())
    draw = ImageDraw.Draw(tile)
    for box in ignore.tolist():
        draw.rectangle(box, outline=(160, 160, 160))
    for box in truth.tolist():
        draw.rectangle(box, outline=(0, 255, 0), width=2)
    for box in boxes[scores >= threshold].tolist():
        draw.rectangle(box, outline=(255, 0, 0))
    return ImageOps.pad(tile, CELL, color=(0, 0, 0))


def detection_picture(tiles: list[Image.Image], path: Path) -> Path:
    grid(tiles, columns=min(4, len(tiles))).save(path)
    return path
