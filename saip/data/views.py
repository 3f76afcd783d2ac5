"""The multi-crop views of one person image (docs/method.md, "Views made from each person image").

Why here and not in the training step: crops, colour and blur are per-sample work on small
images, cheap in DataLoader workers. The cross-scale *rescaling* of the last local crop and of the
half-size view is one factor per view per batch, so the training step applies it to the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.v2 import functional as TF

from saip.config import ViewsConfig
from saip.data.photometric import ColorJitter, GaussianBlur

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# DINO's photometric recipe (the spec's numbers): jitter (brightness, contrast, saturation, hue)
# and a blur with sigma 0.1..2 px.
_JITTER = ColorJitter(0.4, 0.4, 0.2, 0.1)
_BLUR = GaussianBlur((0.1, 2.0))
_SOLARIZE_THRESHOLD = 0.5


def to_normalized(img: Image.Image) -> Tensor:
    """PIL RGB image -> float [3, H, W] with ImageNet mean/std: the input statistics every view shares."""
    pixels = TF.pil_to_tensor(img).float().div_(255)
    return TF.normalize(pixels, list(IMAGENET_MEAN), list(IMAGENET_STD), inplace=True)


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
    jitter_p: float = 0.8
    gray_p: float = 0.2
    blur_p: float = 0.0
    solarize_p: float = 0.0

    def __call__(self, img: Image.Image) -> Tensor:
        top, left, h, w = RandomResizedCrop.get_params(img, list(self.scale), list(self.aspect))
        crop = img.resize(self.size[::-1], Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
        if _happens(0.5):
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = TF.pil_to_tensor(crop).float().div_(255)
        if _happens(self.jitter_p):
            pixels = _JITTER(pixels)
        if _happens(self.gray_p):
            pixels = TF.rgb_to_grayscale(pixels, num_output_channels=3).contiguous()  # an expanded view
        if _happens(self.blur_p):
            pixels = _BLUR(pixels)
        if _happens(self.solarize_p):
            pixels = TF.solarize(pixels, _SOLARIZE_THRESHOLD)
        return TF.normalize(pixels, list(IMAGENET_MEAN), list(IMAGENET_STD), inplace=True)


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
        global_crop = (tuple(cfg.global_size), tuple(cfg.global_scale), tuple(cfg.aspect))
        self.global1 = CropView(*global_crop, blur_p=1.0)
        self.global2 = CropView(*global_crop, blur_p=0.1, solarize_p=0.2)
        self.local = CropView(tuple(cfg.local_size), tuple(cfg.local_scale), tuple(cfg.aspect), blur_p=0.5)
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
