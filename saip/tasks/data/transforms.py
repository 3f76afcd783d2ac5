"""Image transforms of the single-person tasks (ReID, attributes): torchvision transforms v2.

The training recipe is the ReID strong baseline's (Luo et al. 2019): resize, flip, pad 10 (at
256x128) and random-crop back, ImageNet normalisation, random erasing (p 0.5) after normalisation
so erased pixels take about the mean colour.
"""

from __future__ import annotations

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision.transforms import v2


def _to_normalised_tensor() -> list[v2.Transform]:
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    ]


def eval_transform(img_size: tuple[int, int]) -> v2.Compose:
    """Resize to (H, W) and normalise."""
    return v2.Compose([v2.Resize(tuple(img_size), antialias=True), *_to_normalised_tensor()])


def train_transform(img_size: tuple[int, int], *, erasing: float = 0.5, pad: int | None = None) -> v2.Compose:
    """Resize, flip, pad-and-crop, normalise, random erasing. `pad` defaults to the recipe's 10 px
    at 256 px height, scaled with the height (5 px at 128), so small inputs are not shifted by a
    third of their width."""
    if pad is None:
        pad = max(1, round(10 * img_size[0] / 256))
    return v2.Compose(
        [
            v2.Resize(tuple(img_size), antialias=True),
            v2.RandomHorizontalFlip(0.5),
            v2.Pad(pad),
            v2.RandomCrop(tuple(img_size)),
            *_to_normalised_tensor(),
            v2.RandomErasing(p=erasing, value=0),
        ]
    )
