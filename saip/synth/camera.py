"""Camera and photometric effects: what makes two images of one identity differ beyond pose.

Each ReID camera has a fixed profile (exposure, contrast, colour cast, blur, noise, resolution,
JPEG quality), drawn from the camera index, so cross-camera matching has a real domain gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class Camera:
    brightness: float  # added to every channel (0..255 scale)
    contrast: float
    cast: tuple[float, float, float]  # per-channel gain: warm or cold light
    blur: float  # box-blur radius in pixels at 256 px height
    noise: float  # std of additive noise (0..255 scale)
    reduction: int  # > 1: captured at 1/reduction of the resolution, then upsampled
    jpeg_quality: int


def sample_camera(rng: np.random.Generator) -> Camera:
    return Camera(
        brightness=float(rng.uniform(-35, 30)),
        contrast=float(rng.uniform(0.7, 1.2)),
        cast=tuple(float(v) for v in rng.uniform(0.88, 1.12, 3)),  # type: ignore[arg-type]
        blur=float(rng.choice([0.0, 0.0, 0.5, 1.0, 1.6])),
        noise=float(rng.choice([0.0, 3.0, 6.0, 10.0])),
        reduction=int(rng.choice([1, 1, 2, 3])),
        jpeg_quality=int(rng.integers(60, 96)),
    )


@lru_cache(maxsize=1)
def _noise_tile() -> np.ndarray:
    """A fixed unit-variance noise tile [256, 256, 3]: cropping it at random offsets is ~10x faster
    than drawing fresh Gaussian noise for every image."""
    return np.random.default_rng(1234).normal(0.0, 1.0, (256, 256, 3)).astype(np.float32)


@lru_cache(maxsize=8)
def _scaled_noise(std: float) -> np.ndarray:
    """The noise tile at one standard deviation, as int16 ready to add to uint8 pixels."""
    return np.round(std * _noise_tile()).astype(np.int16)


def apply_camera(image: Image.Image, cam: Camera, rng: np.random.Generator) -> Image.Image:
    """Apply `cam` (with a little per-shot jitter from `rng`) to an RGB image; returns a new one."""
    w, h = image.size
    shift = cam.brightness + float(rng.normal(0, 8))
    levels = np.arange(256, dtype=np.float32)
    table = np.concatenate([np.clip(((levels - 128) * cam.contrast + 128 + shift) * g, 0, 255) for g in cam.cast])
    out = image.point(table.astype(np.uint8).tolist())
    if cam.reduction > 1:  # Image.reduce is a box filter at integer factors, ~20x cheaper than resize
        out = out.reduce(cam.reduction).resize((w, h), Image.BILINEAR)
    elif cam.blur > 0:  # a low-resolution camera is already blurred by its upsampling
        out = out.filter(ImageFilter.BoxBlur(cam.blur * h / 256))  # 2x cheaper than Gaussian
    if cam.noise > 0:
        tile = _scaled_noise(cam.noise)
        big = tile if h <= 256 and w <= 256 else np.tile(tile, (h // 256 + 2, w // 256 + 2, 1))
        oy, ox = int(rng.integers(0, big.shape[0] - h + 1)), int(rng.integers(0, big.shape[1] - w + 1))
        noisy = np.asarray(out).astype(np.int16) + big[oy:oy + h, ox:ox + w]
        out = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return out
