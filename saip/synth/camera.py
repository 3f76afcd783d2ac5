"""Camera and photometric effects: what makes two images of one identity differ beyond pose.

Each ReID camera has a fixed profile (exposure, contrast, colour cast, blur, noise, resolution,
JPEG quality), drawn from the camera index, so cross-camera matching has a real domain gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from saip.synth.sampling import pick


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
        cast=(float(rng.uniform(0.88, 1.12)), float(rng.uniform(0.88, 1.12)), float(rng.uniform(0.88, 1.12))),
        blur=pick(rng, (0.0, 0.0, 0.5, 1.0, 1.6)),
        noise=pick(rng, (0.0, 3.0, 6.0, 10.0)),
        reduction=pick(rng, (1, 1, 2, 3)),
        jpeg_quality=int(rng.integers(60, 96)),
    )


@lru_cache(maxsize=4)
def _noise_tile(std: float) -> np.ndarray:
    """Fixed Gaussian noise [256, 256, 3] (uint8, centred on 128): cropping it at random offsets
    and adding it with ImageChops is ~10x cheaper than fresh per-image noise."""
    noise = np.random.default_rng(1234).normal(128.0, std, (256, 256, 3))
    return np.clip(np.round(noise), 0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def _noise_image(std: float, side: int) -> Image.Image:
    reps = side // 256
    return Image.fromarray(np.tile(_noise_tile(std), (reps, reps, 1)))


def apply_camera(image: Image.Image, cam: Camera, rng: np.random.Generator) -> Image.Image:
    """Apply `cam` (with a little per-shot jitter from `rng`) to an RGB image; returns a new one."""
    w, h = image.size
    shift = cam.brightness + float(rng.normal(0, 8))
    levels = np.arange(256, dtype=np.float32)
    table = np.concatenate(
        [np.clip(((levels - 128) * cam.contrast + 128 + shift) * g, 0, 255) for g in cam.cast]
    )
    # Tone acts on the sensor's picture: for a low-resolution camera, on the reduced image
    # (Image.reduce: a box filter at integer factors, ~20x cheaper than resize), then upsampled.
    tone = table.astype(np.uint8).tolist()
    if cam.reduction > 1:  # already blurred by its upsampling
        out = image.reduce(cam.reduction).point(tone).resize((w, h), Image.BILINEAR)
    else:
        out = image.point(tone)
        if cam.blur > 0:
            out = out.filter(ImageFilter.BoxBlur(cam.blur * h / 256))  # 2x cheaper than Gaussian
    if cam.noise > 0:
        side = max(h, w)  # crops share one 256 tile, scenes one 1280 canvas (a few MB per noise level)
        noise = _noise_image(cam.noise, 256 if side <= 256 else max(1280, 256 * (side // 256 + 2)))
        oy, ox = int(rng.integers(0, noise.height - h + 1)), int(rng.integers(0, noise.width - w + 1))
        out = ImageChops.add(out, noise.crop((ox, oy, ox + w, oy + h)), scale=1.0, offset=-128)
    return out
