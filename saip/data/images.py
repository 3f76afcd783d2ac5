"""Robust image decoding: odd images are converted when possible, skipped with a reason otherwise.

Why: a web-scale person set holds grayscale, palette, CMYK, 16-bit, transparent, truncated and
non-image files; one of them must never stop a run, and the count of skipped files is reported.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

log = logging.getLogger(__name__)

# Transparent pixels are composited on ImageNet's mean colour, so they normalise to about zero.
NEUTRAL_RGB = (124, 116, 104)
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}


class Loaded(NamedTuple):
    """An RGB image, or None with the reason it was skipped (`empty`, `unreadable`, `tiny`, `huge`)."""

    image: Image.Image | None
    skipped: str | None = None


def load_rgb(
    src: str | Path | bytes,
    *,
    min_side: int,
    max_pixels: int,
    draft_size: tuple[int, int] | None = None,
) -> Loaded:
    """Decode `src` to an 8-bit RGB image with EXIF orientation applied; never raises for a bad file.

    Args:
        src: a file path or the encoded bytes (e.g. a WebDataset sample).
        min_side: images with a side below this are skipped as `tiny`.
        max_pixels: images with more pixels are skipped as `huge`, judged from the header before
            any pixel is decoded (no decompression bomb is ever allocated).
        draft_size: (H, W); JPEGs larger than this are decoded at 1/2..1/8 scale, never below it.
    """
    name = "<bytes>" if isinstance(src, bytes) else str(src)
    try:
        size = len(src) if isinstance(src, bytes) else Path(src).stat().st_size
    except OSError as err:
        return _skip(name, "unreadable", err)
    if size == 0:
        return _skip(name, "empty", None)
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check below replaces PIL's bomb warning; PIL still refuses > 2x.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)  # reads the header only
        with img:
            width, height = img.size
            if width * height > max_pixels:
                return _skip(name, "huge", f"{height}x{width}")
            if min(width, height) < min_side:
                return _skip(name, "tiny", f"{height}x{width}")
            if draft_size is not None and img.format == "JPEG":
                img.draft("RGB" if img.mode != "CMYK" else None, (draft_size[1], draft_size[0]))
            img.load()
            return Loaded(to_rgb(ImageOps.exif_transpose(img)))
    except Image.DecompressionBombError as err:
        return _skip(name, "huge", err)
    except Exception as err:  # noqa: BLE001 - PIL plugins raise OSError, ValueError, SyntaxError, struct.error, ...
        return _skip(name, "unreadable", err)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB: 16-bit scaled to 8 bit, transparency over a neutral colour."""
    if img.mode in _SIXTEEN_BIT or img.mode in ("I", "F"):
        img = _to_8bit(img)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif img.mode in ("LA", "PA", "La", "RGBa") or (img.mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGB", img.size, NEUTRAL_RGB)
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer / float grayscale to 8-bit `L`: values above 255 are read as 16-bit."""
    values = np.asarray(img, dtype=np.float64)
    if img.mode in _SIXTEEN_BIT or values.max(initial=0.0) > 255:
        values = values / 257.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def _skip(name: str, reason: str, detail: object) -> Loaded:
    log.debug("skipping image %s (%s): %s", name, reason, detail)
    return Loaded(None, reason)
