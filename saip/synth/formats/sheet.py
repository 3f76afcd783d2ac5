"""Contact sheets: a grid of written samples with their labels drawn on, to see what was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from saip.synth.skeleton import COCO_SKELETON

# A fixed palette for the 20 LIP classes (0 stays black, overlaid transparently).
_PALETTE = np.random.default_rng(7).integers(40, 256, (256, 3)).astype(np.uint8)
_PALETTE[0] = 0


@dataclass(frozen=True)
class Tile:
    """One written image and the labels to overlay (pixel coordinates of that image)."""

    image: Path
    keypoints: list[list[list[float]]] = field(default_factory=list)  # per person [17, 3]
    boxes: list[list[float]] = field(default_factory=list)  # [x, y, w, h]
    parsing: Path | None = None


def _draw_tile(tile: Tile, cell: tuple[int, int]) -> Image.Image:
    image = Image.open(tile.image).convert("RGB")
    if tile.parsing is not None:
        labels = np.asarray(Image.open(tile.parsing))
        mixed = np.where(
            labels[..., None] > 0, np.asarray(image) // 2 + _PALETTE[labels] // 2, np.asarray(image)
        )
        image = Image.fromarray(mixed.astype(np.uint8))
    s = min(cell[0] / image.height, cell[1] / image.width)  # small crops are enlarged to be seen
    image = image.resize((max(1, round(image.width * s)), max(1, round(image.height * s))), Image.NEAREST)
    draw = ImageDraw.Draw(image)
    r = 2.0
    for x, y, w, h in tile.boxes:
        draw.rectangle((x * s, y * s, (x + w) * s, (y + h) * s), outline=(255, 255, 0), width=2)
    for kps in tile.keypoints:
        pts = np.asarray(kps, dtype=float).reshape(-1, 3)[:17] * [s, s, 1]
        for a, b in COCO_SKELETON:
            if pts[a - 1, 2] > 0 and pts[b - 1, 2] > 0:
                draw.line((*pts[a - 1, :2], *pts[b - 1, :2]), fill=(0, 255, 255), width=1)
        for x, y, v in pts:
            if v > 0:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=(0, 255, 0) if v == 2 else (255, 0, 0))
    return image


def write_contact_sheet(
    tiles: list[Tile], path: Path, columns: int = 8, cell: tuple[int, int] = (256, 192)
) -> None:
    """A PNG grid of `tiles`, each fitted into `cell` (H, W): green points visible, red hidden."""
    if not tiles:
        return
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (min(columns, len(tiles)) * cell[1], rows * cell[0]), (32, 32, 32))
    for k, tile in enumerate(tiles):
        sheet.paste(_draw_tile(tile, cell), ((k % columns) * cell[1], (k // columns) * cell[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, "PNG")
