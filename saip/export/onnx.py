"""ONNX export of a backbone's global embedding, checked against torch with onnxruntime."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from saip.models.backbone import Backbone


class ParityError(RuntimeError):
    """The ONNX model's outputs differ from torch's beyond the tolerance."""


def export_onnx(
    backbone: Backbone, path: str | Path, *, batch: int = 2, atol: float = 1e-4, opset: int = 18
) -> tuple[Path, float]:
    """Export `backbone(x) -> [B, D]` at the backbone's anchor size with a dynamic batch axis.

    Returns the path and the max absolute difference to torch on a random batch; raises
    `ParityError` when it exceeds `atol`.
    """
    import onnxruntime as ort

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = backbone.eval().cpu()
    x = torch.randn(batch, 3, *backbone.img_size)
    with warnings.catch_warnings():  # shape checks traced as constants are fine at a fixed size
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            (x,),
            str(path),
            input_names=["images"],
            output_names=["embedding"],
            dynamic_axes={"images": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {"images": x.numpy()})[0]
    max_diff = float(np.abs(got - expected).max())
    if max_diff > atol:
        raise ParityError(f"ONNX output differs from torch by {max_diff:.2e} (> {atol})")
    return path, max_diff
