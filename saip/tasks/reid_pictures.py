"""The ranking picture: a few queries, each followed by its top gallery matches under the protocol,
framed green (same identity) or red (another identity), so a user sees at a glance what fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from saip.tasks.data.reid_sets import ReidList
from saip.tasks.retrieval_metrics import JUNK_PID

THUMB = (128, 64)  # (H, W)
BORDER = 4
GREEN, RED, GREY = (40, 180, 60), (220, 40, 40), (160, 160, 160)


def framed_thumb(path: Path, colour: tuple[int, int, int]) -> Image.Image:
    """The image at THUMB size inside a BORDER-wide frame of `colour`."""
    with Image.open(path) as im:
        small = im.convert("RGB").resize((THUMB[1], THUMB[0]))
    return ImageOps.expand(small, border=BORDER, fill=colour)


def save_ranking_picture(
    dist: torch.Tensor,
    query: ReidList,
    gallery: ReidList,
    path: str | Path,
    *,
    num_queries: int = 8,
    top: int = 10,
) -> Path:
    """One row per query (grey frame), then its `top` valid gallery matches; written as PNG."""
    picks = np.linspace(0, len(query) - 1, min(num_queries, len(query))).round().astype(int)
    cell_h, cell_w = THUMB[0] + 2 * BORDER, THUMB[1] + 2 * BORDER
    canvas = Image.new("RGB", ((top + 1) * cell_w + BORDER, len(picks) * cell_h), "white")
    for row, qi in enumerate(picks):
        order = torch.argsort(dist[qi], stable=True).numpy()
        pid, cam = gallery.pids[order], gallery.camids[order]
        valid = order[(pid != JUNK_PID) & ~((pid == query.pids[qi]) & (cam == query.camids[qi]))][:top]
        canvas.paste(framed_thumb(query.paths[qi], GREY), (0, row * cell_h))
        for col, gi in enumerate(valid, 1):
            colour = GREEN if gallery.pids[gi] == query.pids[qi] else RED
            canvas.paste(framed_thumb(gallery.paths[gi], colour), (col * cell_w + BORDER, row * cell_h))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
