"""The multi-crop views of one person image (docs/method.md, "Views made from each person image").

Why here and not in the training step: crops, colour and blur are per-sample work on PIL / uint8
images, cheap in DataLoader workers. The cross-scale *rescaling* of the last local crop and of the
half-size view is one factor per view per batch, so the training step applies it to the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torchvision.transforms import v2

from saip.config import ViewsConfig
from saip.data.photometric import ColorJitter, GaussianBlur

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# DINO's photometric recipe (the spec's numbers): jitter (brightness, contrast, saturation, hue).
_JITTER = (0.4, 0.4, 0.2, 0.1)
_JITTER_P = 0.8
_GRAY_P = 0.2
# Blur sigma range in pixels.
_BLUR_SIGMA = (0.1, 2.0)
_SOLARIZE_THRESHOLD = 0.5


def normalize() -> v2.Normalize:
    """Float [3, H, W] in [0, 1] -> ImageNet mean/std: the input statistics every view shares."""
    return v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)


def to_float() -> v2.Compose:
    """PIL image -> float [3, H, W] in [0, 1]."""
    return v2.Compose([v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)])


def _crop_view(
    size: tuple[int, int],
    scale: tuple[float, float],
    aspect: tuple[float, float],
    blur_p: float,
    solarize_p: float,
) -> v2.Compose:
    """One augmentation pipeline: crop and flip on the PIL image, photometric ops on the small float crop."""
    ops: list = [
        v2.RandomResizedCrop(tuple(size), scale=tuple(scale), ratio=tuple(aspect), antialias=True),
        v2.RandomHorizontalFlip(),
        to_float(),
        v2.RandomApply([ColorJitter(*_JITTER)], p=_JITTER_P),
        v2.RandomGrayscale(_GRAY_P),
    ]
    if blur_p > 0:
        ops.append(v2.RandomApply([GaussianBlur(_BLUR_SIGMA)], p=blur_p))
    if solarize_p > 0:
        ops.append(v2.RandomSolarize(_SOLARIZE_THRESHOLD, p=solarize_p))
    ops.append(normalize())
    return v2.Compose(ops)


class MultiCropViews:
    """PIL image -> 2 global views, `num_local` local crops and the half-size copy of global view 1.

    Random draws use torch's global generator: the caller seeds it per sample (samples.py).

    Returns a dict: "global" [2, 3, Hg, Wg], "local" [L, 3, Hl, Wl] (the last crop is the
    cross-scale `roi` view), "half" [3, Hg // 2, Wg // 2]; all ImageNet-normalised float.
    """

    def __init__(self, cfg: ViewsConfig) -> None:
        if cfg.num_local < 1:
            raise ValueError(
                f"views.num_local must be >= 1 (the last crop is the roi view), got {cfg.num_local}"
            )
        self.half_size = (cfg.global_size[0] // 2, cfg.global_size[1] // 2)
        self.global1 = _crop_view(cfg.global_size, cfg.global_scale, cfg.aspect, blur_p=1.0, solarize_p=0.0)
        self.global2 = _crop_view(cfg.global_size, cfg.global_scale, cfg.aspect, blur_p=0.1, solarize_p=0.2)
        self.local = _crop_view(cfg.local_size, cfg.local_scale, cfg.aspect, blur_p=0.5, solarize_p=0.0)
        self.num_local = cfg.num_local

    def __call__(self, img: Image.Image) -> dict[str, Tensor]:
        view1, view2 = self.global1(img), self.global2(img)
        half = F.interpolate(
            view1[None], size=self.half_size, mode="bilinear", antialias=True, align_corners=False
        )
        return {
            "global": torch.stack([view1, view2]),
            "local": torch.stack([self.local(img) for _ in range(self.num_local)]),
            "half": half[0],
        }
