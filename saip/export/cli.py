"""`saip export RUN_OR_CHECKPOINT`: timm-loadable safetensors, the timm `local-dir:` folder with a model
card, and, on request, ONNX (dynamic batch and input size) and its weight-int8 twin, each checked."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from saip.config import PretrainConfig, load_config
from saip.export.card import model_card
from saip.export.onnx import OUTPUTS
from saip.export.weights import export_backbone, export_timm_folder, load_backbone
from saip.models.backbone import Backbone

log = logging.getLogger("saip.export")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="run directory, checkpoint .pt, or exported .safetensors")
    parser.add_argument("--out", help="output folder (default: the run directory / the file's folder)")
    parser.add_argument("--student", action="store_true", help="export the student instead of the teacher")
    parser.add_argument(
        "--img-size",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        help="anchor input size of the exported model (default: the training size)",
    )
    parser.add_argument(
        "--onnx",
        action="store_true",
        help="also write backbone.onnx (any batch, any sides that are multiples of 16) and check it "
        "against torch with onnxruntime at two sizes",
    )
    parser.add_argument(
        "--onnx-output",
        choices=list(OUTPUTS),
        default="pooled",
        help="ONNX outputs: the pooled embedding [B, D], the final normed tokens [B, N, D], or both",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also write backbone_int8.onnx (int8 weights, onnxruntime dynamic quantisation; implies "
        "--onnx) and check its features' cosine to fp32 (mean >= 0.99, min >= 0.98)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")


def run(args: argparse.Namespace) -> int:
    source = Path(args.source)
    which = "student" if args.student else "teacher"
    out = Path(args.out) if args.out else (source if source.is_dir() else source.parent)
    backbone = load_backbone(
        str(source), which=which, img_size=tuple(args.img_size) if args.img_size else None
    )
    stem = "backbone" if which == "teacher" else "backbone_student"
    path = export_backbone(backbone, out, source=which, stem=stem)
    print(f"wrote {path} and {path.with_suffix('.json')}")
    folder = out / ("export" if which == "teacher" else "export_student")
    export_timm_folder(backbone, folder, source=which, card=_card(source, backbone, which))
    print(f"wrote {folder} (timm.create_model('local-dir:{folder}', pretrained=True))")
    if args.onnx or args.int8:
        _onnx(backbone, out / f"{stem}.onnx", args.onnx_output, args.int8)
    return 0


def _onnx(backbone: Backbone, path: Path, outputs: str, int8: bool) -> None:
    from saip.export.int8 import quantize_int8
    from saip.export.onnx import export_onnx

    fp32 = export_onnx(backbone, path, outputs=outputs)
    print(f"wrote {fp32.path} {fp32.outputs} (max |onnxruntime - torch| = {fp32.max_diff:.2e})")
    if int8:
        images = torch.randn(8, 3, *backbone.img_size, generator=torch.Generator().manual_seed(0))
        q = quantize_int8(fp32.path, images.numpy())
        print(f"wrote {q.path} (feature cosine to fp32: mean {q.cosine_mean:.4f}, min {q.cosine_min:.4f})")


def _card(source: Path, backbone: Backbone, which: str) -> str:
    """The run's model card when the source is a finished run or its final `last.pt` (the state its
    summary describes), else a short one naming the source: a bare weights file or an intermediate
    checkpoint does not say how it was trained."""
    run = source if source.is_dir() else source.parent.parent if source.name == "last.pt" else source
    if (run / "config.yaml").is_file() and (run / "summary.json").is_file():
        cfg = load_config(PretrainConfig, run / "config.yaml")
        return model_card(cfg, json.loads((run / "summary.json").read_text()), backbone, source=which)
    return (
        f"# saip `{backbone.name}`\n\nExported by `saip export` from `{source.name}`, whose training run "
        "(config and summary) was not found beside it; see that run's own records.\n"
    )
