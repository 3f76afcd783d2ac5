"""The text retrieval picture: a few test captions, each beside its top-5 images, framed green (the
described person) or red (someone else), so a user sees at a glance which descriptions fail."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from saip.tasks.data.pedes_sets import PedesSplit
from saip.tasks.reid_pictures import BORDER, GREEN, RED, THUMB, framed_thumb

TEXT_W = 260
LINE_H = 12
WRAP = 44  # characters per line in TEXT_W pixels with PIL's default font


def _caption_panel(caption: str, height: int) -> Image.Image:
    panel = Image.new("RGB", (TEXT_W, height), "white")
    draw = ImageDraw.Draw(panel)
    for row, line in enumerate(textwrap.wrap(caption, WRAP)[: height // LINE_H]):
        draw.text((4, 4 + row * LINE_H), line, fill=(0, 0, 0))
    return panel


def save_text_picture(
    sim: torch.Tensor, split: PedesSplit, path: str | Path, *, num_captions: int = 6, top: int = 5
) -> Path:
    """One row per caption (spread over the split): its text, then its `top` images by similarity."""
    picks = (
        np.linspace(0, len(split.captions) - 1, min(num_captions, len(split.captions))).round().astype(int)
    )
    cell_h, cell_w = THUMB[0] + 2 * BORDER, THUMB[1] + 2 * BORDER
    canvas = Image.new("RGB", (TEXT_W + top * cell_w + BORDER, len(picks) * cell_h), "white")
    caption_pids = split.caption_pids
    for row, ci in enumerate(picks):
        canvas.paste(_caption_panel(split.captions[ci], cell_h), (0, row * cell_h))
        order = torch.argsort(sim[ci], descending=True, stable=True)[:top].numpy()
        for col, ii in enumerate(order):
            colour = GREEN if split.pids[ii] == caption_pids[ci] else RED
            canvas.paste(framed_thumb(split.paths[ii], colour), (TEXT_W + col * cell_w, row * cell_h))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
