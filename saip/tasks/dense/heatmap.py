"""Heatmap codec for top-down pose: unbiased (UDP) Gaussian targets, DARK decoding.

Why UDP (Huang et al., CVPR 2020): with pixel-centre coordinates the heatmap grid is the input grid
scaled by (w - 1) / (W - 1), so encoding, decoding and the horizontal flip are exact inverses and
the flip test (`flip.py`) needs no one-pixel shift. Why DARK (Zhang et al., CVPR 2020): a second-order Taylor
step on the log of the (smoothed) heatmap recovers sub-pixel positions that plain argmax loses at
1/4 resolution.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def heatmap_scale(input_size: tuple[int, int], heatmap_size: tuple[int, int]) -> np.ndarray:
    """(sx, sy): heatmap coordinate = input coordinate * scale (UDP)."""
    (ih, iw), (hh, hw) = input_size, heatmap_size
    return np.array([(hw - 1) / (iw - 1), (hh - 1) / (ih - 1)])


def encode(
    points: np.ndarray,
    visible: np.ndarray,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    sigma: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian targets for [K, 2] input-pixel points.

    Returns heatmaps [K, h, w] (peak 1 at the unrounded position) and weights [K] (0 for points that
    are unlabelled or whose Gaussian lies entirely outside the heatmap).
    """
    h, w = heatmap_size
    mu = points * heatmap_scale(input_size, heatmap_size)  # [K, 2]
    xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    gx = np.exp(-((xs[None] - mu[:, :1]) ** 2) / (2 * sigma**2))  # [K, w]
    gy = np.exp(-((ys[None] - mu[:, 1:]) ** 2) / (2 * sigma**2))  # [K, h]
    inside = (
        (mu[:, 0] > -3 * sigma)
        & (mu[:, 0] < w - 1 + 3 * sigma)
        & (mu[:, 1] > -3 * sigma)
        & (mu[:, 1] < h - 1 + 3 * sigma)
    )
    weight = ((visible > 0) & inside).astype(np.float32)
    heatmaps = gy[:, :, None] * gx[:, None, :] * weight[:, None, None]
    return heatmaps.astype(np.float32), weight


def _blur(maps: Tensor, kernel: int) -> Tensor:
    """Gaussian blur of [N, 1, h, w] with zero padding (reflecting would add a mirrored peak near
    the border); sigma from the kernel size as OpenCV picks it."""
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    x = torch.arange(kernel, dtype=maps.dtype, device=maps.device) - kernel // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    maps = F.conv2d(maps, g.view(1, 1, 1, -1), padding=(0, kernel // 2))
    return F.conv2d(maps, g.view(1, 1, -1, 1), padding=(kernel // 2, 0))


def _dark_refine(heatmaps: Tensor, peaks: Tensor, kernel: int) -> Tensor:
    """Sub-pixel Taylor step at integer `peaks` [B, K, 2] (x, y) of heatmaps [B, K, h, w]."""
    b, k, h, w = heatmaps.shape
    peak = heatmaps.amax(dim=(-2, -1), keepdim=True)
    smooth = _blur(heatmaps.reshape(b * k, 1, h, w), kernel).reshape(b, k, h, w)
    smooth = smooth * peak / smooth.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-10)
    logmap = F.pad(smooth.clamp_min(1e-10).log(), (2, 2, 2, 2), mode="replicate")  # [B, K, h+4, w+4]
    x, y = peaks[..., 0].long() + 2, peaks[..., 1].long() + 2

    def at(dx: int, dy: int) -> Tensor:
        index = ((y + dy) * (w + 4) + (x + dx)).unsqueeze(-1)
        return logmap.flatten(2).gather(2, index).squeeze(-1)

    center = at(0, 0)
    gx, gy = 0.5 * (at(1, 0) - at(-1, 0)), 0.5 * (at(0, 1) - at(0, -1))
    hxx = 0.25 * (at(2, 0) - 2 * center + at(-2, 0))
    hyy = 0.25 * (at(0, 2) - 2 * center + at(0, -2))
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy**2
    ok = det.abs() > 1e-12
    safe = torch.where(ok, det, torch.ones_like(det))
    offset_x = -(hyy * gx - hxy * gy) / safe
    offset_y = -(-hxy * gx + hxx * gy) / safe
    offset = torch.stack([offset_x, offset_y], -1) * ok.unsqueeze(-1)
    return peaks + offset.clamp(-1.0, 1.0)


def decode(heatmaps: Tensor, input_size: tuple[int, int], blur_kernel: int = 11) -> tuple[Tensor, Tensor]:
    """Heatmaps [B, K, h, w] -> points [B, K, 2] in input pixels (x, y) and scores [B, K] (peak value)."""
    b, k, h, w = heatmaps.shape
    heatmaps = heatmaps.float()
    scores, flat = heatmaps.flatten(2).max(dim=2)
    peaks = torch.stack([flat % w, flat // w], dim=-1).float()
    if blur_kernel > 0:
        peaks = _dark_refine(heatmaps, peaks, blur_kernel)
    scale = torch.as_tensor(heatmap_scale(input_size, (h, w)), dtype=peaks.dtype, device=peaks.device)
    return peaks / scale, scores
