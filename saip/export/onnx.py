"""ONNX export of a backbone with a dynamic batch and input size, checked against torch with onnxruntime.

The graph comes from `torch.export` (`torch.onnx.export(..., dynamo=True)`): batch, height and width
are symbolic (sides multiples of the patch size), and a ViT resamples its position embeddings in
2-D inside the graph (timm's `dynamic_img_size`), so one file serves every input size. Outputs, by
name: `embedding` [B, D] (the global embedding, `backbone(x)`) and `tokens` [B, N, D] (the final
tokens through timm's `norm`, class token dropped).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from saip.models.backbone import Backbone, Taps

# --onnx-output choice -> graph output names; each name reads one field of the backbone's taps.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "pooled": ("embedding",),
    "tokens": ("tokens",),
    "both": ("embedding", "tokens"),
}
FIELDS: dict[str, str] = {"embedding": "cls", "tokens": "final"}
INPUT = "images"


class ParityError(RuntimeError):
    """The ONNX model's outputs differ from torch's beyond the tolerance."""


@dataclass(frozen=True)
class OnnxExport:
    path: Path
    outputs: tuple[str, ...]
    max_diff: float  # max |onnxruntime - torch| over the check sizes, all outputs


class Outputs(nn.Module):
    """The backbone as a function of images only, returning the named outputs as a tuple."""

    def __init__(self, backbone: Backbone, names: tuple[str, ...]) -> None:
        super().__init__()
        self.backbone = backbone
        self.names = names

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        taps: Taps = self.backbone.forward_taps(x, mid=False)
        return tuple(getattr(taps, FIELDS[name]) for name in self.names)


def check_sizes(backbone: Backbone) -> list[tuple[int, int, int]]:
    """(batch, H, W) of the parity checks: one image at the anchor size, and three at a larger size
    of another aspect ratio, so that a graph frozen to the example shape cannot pass."""
    h, w = backbone.img_size
    step = backbone.patch_size
    return [(1, h, w), (3, h + 2 * step, w + step)]


def session(path: str | Path, threads: int | None = None):  # noqa: ANN201 (onnxruntime is optional)
    """A CPU onnxruntime session; `threads` sets the intra-op pool (None: onnxruntime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def max_difference(model: Outputs, sess, sizes: list[tuple[int, int, int]], seed: int = 0) -> float:  # noqa: ANN001
    """Max |onnxruntime - torch| over random batches of `sizes`, all outputs."""
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for b, h, w in sizes:
        x = torch.randn(b, 3, h, w, generator=g)
        with torch.no_grad():
            want = model(x)
        got = sess.run(list(model.names), {INPUT: x.numpy()})
        worst = max([worst, *(float(np.abs(o - t.numpy()).max()) for o, t in zip(got, want, strict=True))])
    return worst


def export_onnx(
    backbone: Backbone,
    path: str | Path,
    *,
    outputs: str = "pooled",
    atol: float = 1e-4,
    opset: int = 18,
    max_side: int = 4096,
) -> OnnxExport:
    """Export the backbone's `outputs` (a key of `OUTPUTS`) with symbolic batch, H and W (multiples
    of the patch size, up to `max_side`); weights inside the one file.

    Raises `ParityError` when onnxruntime differs from torch by more than `atol` at `check_sizes`.
    """
    from torch.export import Dim

    if outputs not in OUTPUTS:
        raise ValueError(f"unknown ONNX outputs {outputs!r}; choose from {', '.join(OUTPUTS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = Outputs(backbone.cpu(), OUTPUTS[outputs]).eval()
    step = backbone.patch_size
    cells = {"min": 1, "max": max_side // step}
    shapes = {0: Dim("batch", min=1, max=65536), 2: step * Dim("hp", **cells), 3: step * Dim("wp", **cells)}
    h, w = backbone.img_size
    example = torch.randn(2, 3, h, w)  # batch 2: torch.export specialises sizes 0 and 1
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", (UserWarning, FutureWarning, DeprecationWarning))
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            dynamic_shapes=(shapes,),
            input_names=[INPUT],
            output_names=list(model.names),
            opset_version=opset,
            external_data=False,
            verbose=False,
        )
    diff = max_difference(model, session(path), check_sizes(backbone))
    if diff > atol:
        raise ParityError(
            f"ONNX output differs from torch by {diff:.2e} (> {atol}) at {check_sizes(backbone)}"
        )
    return OnnxExport(path, model.names, diff)
