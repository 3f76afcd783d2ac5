"""Byte-stable file writing: same content, same bytes (fixed encoder settings, no timestamps)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from PIL import Image


def save_jpeg(image: Image.Image, path: Path, quality: int = 90) -> None:
    """JPEG with fixed settings (baseline, 4:2:0, no optimisation pass): deterministic bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, "JPEG", quality=int(quality), subsampling=2, optimize=False)


def save_png(array: np.ndarray, path: Path) -> None:
    """A label map [H, W] (uint8) as a mode-L PNG."""
    if array.dtype != np.uint8 or array.ndim != 2:
        raise ValueError(f"label maps must be 2-D uint8, got {array.dtype} {array.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode="L").save(path, "PNG")


def write_json(obj: Any, path: Path) -> None:
    """Compact JSON in the order the writer built it (stable, no floats beyond 2 decimals)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, separators=(",", ":")))


def write_lines(lines: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


def write_mat(variables: dict[str, Any], path: Path) -> None:
    """A MATLAB 5 .mat file via scipy.io.savemat, with the creation time in its header blanked.

    scipy writes "Created on: <asctime>" into the 116-byte text header; we replace that text so
    two runs give identical bytes (the header is free text, loaders ignore it).
    """
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables, do_compression=False, oned_as="column")
    data = bytearray(buffer.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, Platform: posix, written by saip.synth".ljust(116)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


def cell(strings: list[str]) -> np.ndarray:
    """A MATLAB cell column [N, 1] of strings, the way PA-100K stores names."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = s
    return out
