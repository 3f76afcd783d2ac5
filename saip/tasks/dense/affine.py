"""Crop-and-warp geometry shared by the top-down pose and parsing pipelines.

Coordinates are pixel centres (pixel i spans [i - 0.5, i + 0.5]), so a region of size (bh, bw)
maps onto an output of (H, W) pixels with no half-pixel bias (UDP, Huang et al., CVPR 2020): the
same matrix sends labels into the crop and predictions back to the image, exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor


def box_to_region(
    box: tuple[float, float, float, float], out_size: tuple[int, int], padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """A COCO box (x, y, w, h) -> centre (cx, cy) and size (bw, bh) grown to the output's aspect,
    then by `padding` (the field's 1.25 margin around a person)."""
    x, y, w, h = box
    out_h, out_w = out_size
    center = np.array([x + w / 2, y + h / 2])
    aspect = out_w / out_h
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return center, np.array([w, h]) * padding


def region_matrix(
    center: np.ndarray, size: np.ndarray, out_size: tuple[int, int], rotation: float = 0.0, flip: bool = False
) -> np.ndarray:
    """[2, 3] affine from image to output coordinates: `size` (bw, bh) around `center` fills the
    output, rotated by `rotation` degrees and mirrored when `flip`."""
    out_h, out_w = out_size
    sx, sy = out_w / size[0], out_h / size[1]
    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    linear = np.array([[sx * cos, sx * sin], [-sy * sin, sy * cos]])
    if flip:
        linear[0] *= -1
    shift = np.array([(out_w - 1) / 2, (out_h - 1) / 2]) - linear @ center
    return np.concatenate([linear, shift[:, None]], axis=1)


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a [2, 3] affine."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map [..., 2] points through a [2, 3] affine."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_image(
    image: Image.Image,
    matrix: np.ndarray,
    out_size: tuple[int, int],
    *,
    nearest: bool = False,
    fill: int | tuple[int, ...] = 0,
) -> Image.Image:
    """Resample `image` into the (H, W) output through `matrix` (image -> output).

    PIL samples output pixel corners, so the centre-convention inverse is shifted by half a pixel.
    """
    inv = invert(matrix)
    inv_shifted = inv.copy()
    inv_shifted[:, 2] = inv[:, 2] - inv[:, :2].sum(1) * 0.5 + 0.5
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return image.transform(
        (out_size[1], out_size[0]),
        Image.Transform.AFFINE,
        tuple(inv_shifted.reshape(-1)),
        resample=resample,
        fillcolor=fill,
    )


def warp_back(maps: Tensor, matrix: np.ndarray, image_size: tuple[int, int]) -> Tensor:
    """Per-pixel predictions [C, h, w] made on a crop back onto the original (H, W) image.

    `matrix` maps image -> crop of size (h, w); bilinear sampling, zeros outside the crop.
    """
    h, w = maps.shape[-2:]
    img_h, img_w = image_size
    ys, xs = torch.meshgrid(
        torch.arange(img_h, dtype=torch.float64), torch.arange(img_w, dtype=torch.float64), indexing="ij"
    )
    m = torch.as_tensor(matrix, dtype=torch.float64)
    u = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    v = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    # grid_sample's align_corners=True puts -1 and 1 on the centres of the first and last pixels.
    grid = torch.stack([2 * u / max(w - 1, 1) - 1, 2 * v / max(h - 1, 1) - 1], dim=-1)
    grid = grid.to(maps.dtype).to(maps.device)[None]
    return F.grid_sample(maps[None], grid, mode="bilinear", align_corners=True)[0]
