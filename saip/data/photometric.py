"""DINO's colour jitter and Gaussian blur, fast on small float crops [3, H, W] in [0, 1].

Why not torchvision's: its jitter runs four passes with clipping in between (hue through HSV)
and its blur convolves with a full 2-D kernel; on our crops those two took about 75 % of the
time of the whole pipeline. Here the jitter is one affine colour map (hue as a rotation of the
YIQ chroma plane, as in NVIDIA DALI: luma is kept exactly and it is close to an HSV shift for
natural colours) and the blur is separable, as shifted sums. Random draws use torch's global
generator, like torchvision's transforms, so a per-sample seed fixes them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# RGB -> YIQ (NTSC); rows: luma Y, chroma I, chroma Q. White maps to (1, 0, 0).
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def _uniform(low: float, high: float) -> float:
    return float(torch.empty(1).uniform_(low, high))


def chroma_map(saturation: float, hue: float) -> Tensor:
    """[3, 3] RGB map scaling chroma by `saturation` and rotating it by `hue` turns; luma is unchanged."""
    cos, sin = saturation * math.cos(2 * math.pi * hue), saturation * math.sin(2 * math.pi * hue)
    yiq = torch.tensor([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    return _YIQ_TO_RGB @ yiq @ _RGB_TO_YIQ


class ColorJitter:
    """Brightness, contrast, saturation and hue factors drawn as torchvision draws them, applied at once,
    optionally followed by per-channel white-balance gains.

    Without clipping the four operations commute (each keeps grey grey and scales or rotates the
    chroma plane), so torchvision's random order does not matter; values are clipped to [0, 1]
    once at the end instead of after each operation.
    """

    def __init__(
        self, brightness: float, contrast: float, saturation: float, hue: float, channel_gain: float = 0.0
    ) -> None:
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.channel_gain = channel_gain

    def __call__(self, img: Tensor) -> Tensor:
        b = _uniform(max(0.0, 1 - self.brightness), 1 + self.brightness)
        c = _uniform(max(0.0, 1 - self.contrast), 1 + self.contrast)
        s = _uniform(max(0.0, 1 - self.saturation), 1 + self.saturation)
        h = _uniform(-self.hue, self.hue)
        matrix = (b * c) * chroma_map(s, h).to(img.dtype)
        # Contrast pulls towards the mean luma of the image (as torchvision does), scaled by brightness.
        offset = b * (1 - c) * (_RGB_TO_YIQ[0].to(img.dtype) @ img.mean(dim=(-2, -1))) * torch.ones(3, 1)
        if self.channel_gain:  # white balance: a diagonal gain after the rest, still one affine map
            gains = torch.empty(3, 1).uniform_(1 - self.channel_gain, 1 + self.channel_gain)
            matrix, offset = gains * matrix, gains * offset
        out = torch.addmm(offset.to(img.dtype), matrix, img.reshape(3, -1)).reshape(img.shape)
        return out.clamp_(0, 1)


def gaussian_blur(img: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur [3, H, W] -> same; the kernel spans +-3 sigma (reflect padding).

    Each pass adds up 2 r + 1 shifted copies of a padded image: on crops of this size that is
    2-4x faster on CPU than a depthwise convolution or a banded matrix product.
    """
    radius = max(1, min(math.ceil(3 * sigma), img.shape[-2] - 1, img.shape[-1] - 1))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    weights = (kernel / kernel.sum()).tolist()
    return _blur_along(_blur_along(img, weights, dim=-1), weights, dim=-2)


def _blur_along(img: Tensor, weights: list[float], dim: int) -> Tensor:
    radius, size = len(weights) // 2, img.shape[dim]
    padded = F.pad(
        img[None], (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius), mode="reflect"
    )[0]
    out = padded.narrow(dim, 0, size) * weights[0]
    for shift, weight in enumerate(weights[1:], start=1):
        out.add_(padded.narrow(dim, shift, size), alpha=weight)
    return out


class GaussianBlur:
    """Blur with sigma drawn uniformly in `sigma` (pixels), as DINO's PIL blur with radius in (0.1, 2.0)."""

    def __init__(self, sigma: tuple[float, float]) -> None:
        self.sigma = sigma

    def __call__(self, img: Tensor) -> Tensor:
        return gaussian_blur(img, _uniform(*self.sigma))
