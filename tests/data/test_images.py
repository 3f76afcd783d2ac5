"""The odd-image matrix: every file is made on the fly and must be converted or skipped, never raise."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saip.data.images import NEUTRAL_RGB, load_rgb

RED = (200, 30, 40)


def _load(src: Path | bytes, **kw: int):
    return load_rgb(src, min_side=kw.get("min_side", 8), max_pixels=kw.get("max_pixels", 10_000_000))


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def _png_with_size(height: int, width: int) -> bytes:
    """A 1x1 PNG whose header claims (height, width): only the header may ever be read."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    start = 8 + 8  # signature, then the IHDR chunk's length and type
    data[start : start + 8] = struct.pack(">II", width, height)
    data[start + 13 : start + 17] = struct.pack(">I", zlib.crc32(bytes(data[start - 4 : start + 13])))
    return bytes(data)


@pytest.mark.parametrize(
    ("mode", "fmt", "expect"),
    [
        ("RGB", "JPEG", RED),
        ("L", "PNG", None),
        ("LA", "PNG", None),
        ("1", "PNG", None),
        ("P", "PNG", RED),
        ("CMYK", "JPEG", RED),
        ("RGB", "WEBP", RED),
        ("RGB", "BMP", RED),
    ],
)
def test_converts_modes_to_rgb(tmp_path: Path, mode: str, fmt: str, expect: tuple | None) -> None:
    rgb = Image.new("RGB", (24, 40), RED)
    img = rgb.quantize() if mode == "P" else rgb.convert(mode)
    path = _save(img, tmp_path / f"x.{fmt.lower()}", format=fmt, quality=95)
    out = _load(path)
    assert out.skipped is None and out.image is not None
    assert out.image.mode == "RGB" and out.image.size == (24, 40)
    pixel = np.asarray(out.image)[20, 12].astype(int)
    if expect is None:  # grayscale: three equal channels
        assert pixel[0] == pixel[1] == pixel[2]
    else:
        np.testing.assert_allclose(pixel, expect, atol=12)


def test_cmyk_adobe_inverted_matches_rgb(tmp_path: Path) -> None:
    # Pillow writes CMYK JPEGs with an Adobe marker (inverted values): colours must survive.
    path = _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "c.jpg", quality=95)
    assert b"Adobe" in path.read_bytes()
    pixel = np.asarray(_load(path).image)[8, 8].astype(int)
    np.testing.assert_allclose(pixel, (255, 0, 0), atol=12)


def test_transparency_composited_on_neutral(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 8, 16))
    out = np.asarray(_load(_save(rgba, tmp_path / "a.png")).image)
    assert tuple(out[4, 4]) == (0, 0, 255)
    assert tuple(out[4, 12]) == NEUTRAL_RGB

    pal = Image.new("P", (16, 16), 1)
    pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    pal.paste(0, (0, 0, 8, 16))
    out = np.asarray(_load(_save(pal, tmp_path / "p.png", transparency=0)).image)
    assert tuple(out[4, 4]) == NEUTRAL_RGB
    assert tuple(out[4, 12]) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_sixteen_bit_scaled_to_8bit(tmp_path: Path, mode: str) -> None:
    values = np.full((16, 16), 65535, dtype=np.int32)
    values[:, :8] = 257 * 100
    dtype = {"I;16": "<u2", "I;16B": ">u2", "I": "<i4"}[mode]
    img = Image.frombytes(mode, (16, 16), values.astype(dtype).tobytes())
    assert img.mode == mode
    path = _save(img, tmp_path / "w.tif")
    out = np.asarray(_load(path).image)
    assert tuple(out[0, 0]) == (100, 100, 100)
    assert tuple(out[0, 15]) == (255, 255, 255)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 24), RED)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = _load(_save(img, tmp_path / "o.jpg", exif=exif)).image
    assert out is not None and out.size == (24, 40)


def test_bytes_source(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 32), RED).save(buf, format="PNG")
    assert _load(buf.getvalue()).image.size == (16, 32)


def _truncated_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        buf, format="JPEG"
    )
    return buf.getvalue()[: len(buf.getvalue()) // 2]


@pytest.mark.parametrize(
    ("data", "kw", "reason"),
    [
        (b"", {}, "empty"),
        (b"this is not an image at all", {}, "unreadable"),
        (_truncated_jpeg(), {}, "unreadable"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, {}, "unreadable"),
        (_png_with_size(6, 100), {}, "tiny"),
        (_png_with_size(9000, 9000), {"max_pixels": 64_000_000}, "huge"),  # below PIL's own limit
        (_png_with_size(40000, 40000), {}, "huge"),  # PIL's DecompressionBombError
    ],
)
def test_bad_files_skipped_with_reason(tmp_path: Path, data: bytes, kw: dict, reason: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(data)
    out = _load(path, **kw)
    assert out.image is None and out.skipped == reason


def test_missing_file_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG", logger="saip.data.images"):
        out = _load(tmp_path / "nope.jpg")
    assert out == (None, "unreadable")
    assert len(caplog.records) == 1 and "nope.jpg" in caplog.text


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_big_jpeg_decoded_in_draft_mode_never_below_draft_size(tmp_path: Path, mode: str) -> None:
    path = _save(Image.new("RGB", (600, 1200), RED).convert(mode), tmp_path / "big.jpg", quality=90)
    out = load_rgb(path, min_side=8, max_pixels=10_000_000, draft_size=(256, 128)).image
    assert out is not None and out.mode == "RGB"
    if mode != "CMYK":  # libjpeg scales YCbCr and gray while decoding; CMYK stays full size
        assert out.size == (150, 300)
    assert out.size[0] >= 128 and out.size[1] >= 256
