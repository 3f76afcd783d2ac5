"""Weight-int8 ONNX for CPU edge inference: onnxruntime's dynamic quantisation of an fp32 export.

Dynamic quantisation stores the weights of every MatMul / Gemm with a constant weight as int8 (per
output channel) and quantises the activations on the fly, batch by batch: no calibration data, and
the patch-embedding convolution, norms and softmax stay fp32. The check is a feature one: the
cosine of each int8 feature to the fp32 one (each embedding row, each token), since int8 rounding
is far beyond the fp32 graph's 1e-4 tolerance yet harmless to cosine-distance retrieval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saip.export.onnx import INPUT, ParityError

QUANTISED_OPS = ["MatMul", "Gemm"]


@dataclass(frozen=True)
class Int8Export:
    path: Path
    cosine_mean: float
    cosine_min: float


def int8_path(fp32: Path) -> Path:
    """`backbone.onnx` -> `backbone_int8.onnx`, next to it."""
    return fp32.with_name(f"{fp32.stem}_int8{fp32.suffix}")


def feature_cosine(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Cosine of matching feature vectors (the last axis) of two runs' outputs, all rows of all outputs."""
    rows = []
    for x, y in zip(a, b, strict=True):
        x, y = x.reshape(-1, x.shape[-1]).astype(np.float64), y.reshape(-1, y.shape[-1]).astype(np.float64)
        norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
        rows.append((x * y).sum(1) / np.maximum(norms, 1e-12))
    return np.concatenate(rows)


def quantize_int8(
    fp32: str | Path,
    images: np.ndarray,
    *,
    min_mean: float = 0.99,
    min_cosine: float = 0.98,
) -> Int8Export:
    """Write `int8_path(fp32)` and compare its features with the fp32 graph's on `images` [B, 3, H, W].

    Raises `ParityError` when the mean cosine is below `min_mean` or any one below `min_cosine`.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from saip.export.onnx import session

    fp32 = Path(fp32)
    out = int8_path(fp32)
    quantize_dynamic(
        fp32, out, op_types_to_quantize=QUANTISED_OPS, per_channel=True, weight_type=QuantType.QInt8
    )
    feed = {INPUT: images.astype(np.float32)}
    cos = feature_cosine(session(fp32).run(None, feed), session(out).run(None, feed))
    result = Int8Export(out, float(cos.mean()), float(cos.min()))
    if result.cosine_mean < min_mean or result.cosine_min < min_cosine:
        raise ParityError(
            f"int8 features drift from fp32: cosine mean {result.cosine_mean:.4f} (need >= {min_mean}), "
            f"min {result.cosine_min:.4f} (need >= {min_cosine}); {out} kept for inspection"
        )
    return result
