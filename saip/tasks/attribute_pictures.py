"""The attribute picture: a few test images, each beside its predicted attributes, green when
right, red when wrong (false positive), grey for the true attributes it missed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from saip.tasks.data.attribute_sets import AttributeList

THUMB = (160, 80)  # (H, W)
PANEL_W = 200
LINE_H = 11
GREEN, RED, GREY = (20, 140, 40), (200, 30, 30), (140, 140, 140)


def _panel(names: list[str], pred: np.ndarray, truth: np.ndarray, height: int) -> Image.Image:
    panel = Image.new("RGB", (PANEL_W, height), "white")
    draw = ImageDraw.Draw(panel)
    lines = [(names[a], GREEN if truth[a] else RED) for a in np.flatnonzero(pred)]
    lines += [(names[a], GREY) for a in np.flatnonzero(truth & ~pred)]
    for row, (text, colour) in enumerate(lines[: height // LINE_H]):
        draw.text((4, row * LINE_H), text, fill=colour)
    return panel


def save_attribute_picture(
    scores: np.ndarray,
    items: AttributeList,
    names: list[str],
    path: str | Path,
    *,
    threshold: float = 0.5,
    count: int = 8,
    columns: int = 4,
) -> Path:
    """`count` test images spread over the set, in a grid of `columns`; written as PNG."""
    picks = np.linspace(0, len(items.paths) - 1, min(count, len(items.paths))).round().astype(int)
    cell_w, cell_h = THUMB[1] + PANEL_W, THUMB[0]
    rows = -(-len(picks) // columns)
    canvas = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    for k, i in enumerate(picks):
        x, y = (k % columns) * cell_w, (k // columns) * cell_h
        with Image.open(items.paths[i]) as im:
            canvas.paste(im.convert("RGB").resize((THUMB[1], THUMB[0])), (x, y))
        canvas.paste(_panel(names, scores[i] >= threshold, items.labels[i] > 0.5, cell_h), (x + THUMB[1], y))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
