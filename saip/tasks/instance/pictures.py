"""Pictures of instance predictions for the run directory: what AP cannot show (boxes that drift
to heads, duplicates in crowds, people missed behind others, detections piling into ignore regions,
two people merged into one mask, parts that leak across people)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from torch import Tensor

from saip.tasks.dense.pictures import grid, palette

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


def instance_colours(masks: np.ndarray) -> np.ndarray:
    """Masks [N, H, W] (bool, drawn in order, later on top) -> an RGB picture [H, W, 3], one
    colour per instance from a fixed palette, background black."""
    colours = palette(max(len(masks) + 1, 2))[1:]
    out = np.zeros((*masks.shape[1:], 3), dtype=np.uint8)
    for mask, colour in zip(masks, colours, strict=False):
        out[mask] = colour
    return out


def parsing_row(
    image: Tensor, truth: np.ndarray, predicted: np.ndarray, parts: np.ndarray, num_classes: int
) -> list[Image.Image]:
    """(image, true people, predicted people, predicted part classes), each fitted into `CELL`:
    image [3, H, W] in 0..1, instance masks [N, H, W] and [M, H, W], part map [H, W]."""
    pixels = (image.float().clamp(0, 1) * 255).byte().permute(1, 2, 0).cpu().numpy()
    tiles = [pixels, instance_colours(truth), instance_colours(predicted), palette(num_classes)[parts]]
    return [ImageOps.pad(Image.fromarray(t), CELL, color=(0, 0, 0)) for t in tiles]
