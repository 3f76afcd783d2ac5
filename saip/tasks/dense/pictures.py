"""Pictures of dense predictions for the run directory: pose crops with points, parsing triples.

Why pictures: a metric says how much is wrong, a picture says what (mirrored limbs, a head that
swallows the hair class, heatmaps stuck at the crop centre).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor


def to_pil(image: Tensor) -> Image.Image:
    """A normalised [3, H, W] tensor back to an RGB picture."""
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD).view(3, 1, 1)
    pixels = ((image.float().cpu() * std + mean).clamp(0, 1) * 255).byte()
    return Image.fromarray(pixels.permute(1, 2, 0).numpy())


def palette(num: int) -> np.ndarray:
    """[num, 3] distinct colours (PASCAL VOC's bit-interleaved palette; class 0 black)."""
    colours = np.zeros((num, 3), dtype=np.uint8)
    for i in range(num):
        c, bit = i, 7
        while c:
            for ch in range(3):
                colours[i, ch] |= ((c >> ch) & 1) << bit
            c >>= 3
            bit -= 1
    return colours


def grid(tiles: list[Image.Image], columns: int) -> Image.Image:
    """Tiles of equal size in rows of `columns`."""
    w, h = tiles[0].size
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (w * columns, h * rows))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * w, (i // columns) * h))
    return sheet


def pose_picture(images: Tensor, predicted: Tensor, truth: Tensor, path: Path) -> Path:
    """Crops [B, 3, H, W] with true points [B, K, 3] (green, where labelled) and predicted points
    [B, K, 2] (red), in crop pixels."""
    tiles = []
    for image, pred, true in zip(images, predicted, truth, strict=True):
        tile = to_pil(image)
        draw = ImageDraw.Draw(tile)
        for (x, y, v), (px, py) in zip(true.tolist(), pred.tolist(), strict=True):
            if v > 0:
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), outline=(0, 255, 0))
            draw.ellipse((px - 1.5, py - 1.5, px + 1.5, py + 1.5), fill=(255, 0, 0))
        tiles.append(tile)
    grid(tiles, columns=min(8, len(tiles))).save(path)
    return path


def parsing_picture(images: Tensor, truth: Tensor, predicted: Tensor, num_classes: int, path: Path) -> Path:
    """Rows of (image, truth, prediction) triples: images [B, 3, H, W], class maps [B, H, W]
    (255, ignored, drawn white)."""
    colours = np.vstack([palette(num_classes), np.full((256 - num_classes, 3), 255, dtype=np.uint8)])
    tiles = []
    for image, true, pred in zip(images, truth, predicted, strict=True):
        tiles += [
            to_pil(image),
            Image.fromarray(colours[true.cpu().numpy().astype(np.uint8)]),
            Image.fromarray(colours[pred.cpu().numpy().astype(np.uint8)]),
        ]
    grid(tiles, columns=3).save(path)
    return path
