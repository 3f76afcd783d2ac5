"""The multi-crop views of one person image (docs/method.md, "Views made from each person image").

Why here and not in the training step: crops, colour and blur are per-sample work on small
images, cheap in DataLoader workers. The cross-scale *rescaling* of the last local crop and of the
half-size view is one factor per view per batch, so the training step applies it to the batch.

Views leave the workers as uint8 (a quarter of float32's bytes through shared memory and the host
to device copy) and are normalised on the device (`normalize_views`); the half-size view is made
there too, from global view 1 (`half_view`). Quantising after the colour operations moves a pixel
by at most 0.5/255.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.v2 import functional as TF

from saip.config import ViewsConfig
from saip.data.photometric import ColorJitter, GaussianBlur

# DINO's blur: sigma 0.1..2 px.
_BLUR = GaussianBlur((0.1, 2.0))
_SOLARIZE_THRESHOLD = 0.5


def to_unit(img: Image.Image) -> Tensor:
    """PIL RGB image -> float [3, H, W] in 0..1, the range the colour operations work in."""
    return TF.pil_to_tensor(img).float().div_(255)


def quantize(pixels: Tensor) -> Tensor:
    """Float in 0..1 -> uint8 (rounded): what a worker ships."""
    return pixels.mul(255).round_().clamp_(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=8)
def _imagenet_stats(device: torch.device) -> tuple[Tensor, Tensor]:
    """ImageNet mean and std in 0..255 units, made once per device (a new device tensor would be a
    host-to-device copy on every call of the training step)."""
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN, device=device).view(3, 1, 1) * 255
    return mean, torch.tensor(IMAGENET_DEFAULT_STD, device=device).view(3, 1, 1) * 255


def normalize_views(pixels: Tensor) -> Tensor:
    """uint8 (or float in 0..255) [..., 3, H, W] -> float with ImageNet mean/std, on the tensor's
    device: the input statistics every view shares."""
    mean, std = _imagenet_stats(pixels.device)
    return (pixels.float() - mean) / std


def half_view(view: Tensor) -> Tensor:
    """[..., 3, H, W] (uint8 or float) -> float [..., 3, H // 2, W // 2], antialiased, in the
    input's value range: global view 1 at half size, the CSS query's `inst` view."""
    lead, (h, w) = view.shape[:-3], view.shape[-2:]
    flat = view.reshape(-1, *view.shape[-3:]).float()
    half = F.interpolate(flat, size=(h // 2, w // 2), mode="bilinear", antialias=True, align_corners=False)
    return half.reshape(*lead, *half.shape[-3:])


def _happens(p: float) -> bool:
    return p > 0 and float(torch.rand(1)) < p


@dataclass(frozen=True)
class CropView:
    """One augmented view: random-resized crop and flip on the PIL image, photometric ops on the small crop.

    Plain calls rather than a v2.Compose: with ten views per image, v2's per-transform overhead
    (about 25 us each) was a sixth of the pipeline's time. Draws use torch's global generator.
    """

    size: tuple[int, int]
    scale: tuple[float, float]
    aspect: tuple[float, float]
    jitter: ColorJitter | None = None
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: float = 0.0
    solarize_p: float = 0.0

    def __call__(self, img: Image.Image) -> Tensor:
        """-> float [3, H, W] in 0..1."""
        top, left, h, w = RandomResizedCrop.get_params(img, list(self.scale), list(self.aspect))
        crop = img.resize(self.size[::-1], Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
        if _happens(0.5):
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = TF.pil_to_tensor(crop).float().div_(255)
        if self.jitter is not None and _happens(self.jitter_p):
            pixels = self.jitter(pixels)
        if _happens(self.gray_p):
            pixels = TF.rgb_to_grayscale(pixels, num_output_channels=3).contiguous()  # an expanded view
        if _happens(self.blur_p):
            pixels = _BLUR(pixels)
        if _happens(self.solarize_p):
            pixels = TF.solarize(pixels, _SOLARIZE_THRESHOLD)
        return pixels


@functools.lru_cache(maxsize=64)
def band_matte(size: tuple[int, int], band: float) -> Image.Image:
    """An 'L' matte of `size` (W, H): 255 in the central vertical band, falling off as a
    super-Gaussian exp(-(x / band)^4 / 2) of the horizontal offset x (fractions of the width)."""
    w, h = size
    x = (np.arange(w) + 0.5) / w - 0.5
    row = np.exp(-0.5 * (x / band) ** 4)
    return Image.fromarray(np.repeat((row * 255).round().astype(np.uint8)[None], h, axis=0), mode="L")


def swap_background(img: Image.Image, backdrop: Image.Image, band: float) -> Image.Image:
    """`img` over `backdrop` (resized to it) through the central-band matte."""
    behind = backdrop.resize(img.size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return Image.composite(img, behind, band_matte(img.size, band))


class MultiCropViews:
    """PIL image -> 2 global views and `num_local` local crops.

    Random draws use torch's global generator: the caller seeds it per sample (samples.py).
    With `background_swap` > 0, each view may first put the person on another image's background
    (`backdrop` picks that image; None if unreadable).

    Returns a dict of uint8: "global" [2, 3, Hg, Wg], "local" [L, 3, Hl, Wl] (the last crop is
    the cross-scale `roi` view).
    """

    def __init__(self, cfg: ViewsConfig) -> None:
        if cfg.num_local < 1:
            raise ValueError(
                f"views.num_local must be >= 1 (the last crop is the roi view), got {cfg.num_local}"
            )
        jitter = ColorJitter(*cfg.color_jitter, channel_gain=cfg.channel_gain)
        colour = dict(jitter=jitter, jitter_p=cfg.jitter_p, gray_p=cfg.gray_p)
        blur1, blur2, blur_local = cfg.blur_p
        global_crop = (tuple(cfg.global_size), tuple(cfg.global_scale), tuple(cfg.aspect))
        self.global1 = CropView(*global_crop, **colour, blur_p=blur1)
        self.global2 = CropView(*global_crop, **colour, blur_p=blur2, solarize_p=cfg.solarize_p)
        self.local = CropView(
            tuple(cfg.local_size), tuple(cfg.local_scale), tuple(cfg.aspect), **colour, blur_p=blur_local
        )
        self.num_local = cfg.num_local
        self.swap_p, self.band = cfg.background_swap, cfg.swap_band

    def __call__(
        self, img: Image.Image, backdrop: Callable[[], Image.Image | None] | None = None
    ) -> dict[str, Tensor]:
        def source() -> Image.Image:
            if backdrop is None or not _happens(self.swap_p):
                return img
            other = backdrop()
            return img if other is None else swap_background(img, other, self.band)

        views = [self.global1(source()), self.global2(source())]
        return {
            "global": quantize(torch.stack(views)),
            "local": quantize(torch.stack([self.local(source()) for _ in range(self.num_local)])),
        }
