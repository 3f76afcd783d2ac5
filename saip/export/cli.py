"""`saip export RUN_OR_CHECKPOINT`: timm-loadable safetensors, the timm `local-dir:` folder with a model
card, and, on request, ONNX with a parity check."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from saip.config import PretrainConfig, load_config
from saip.export.card import model_card
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
        "--onnx", action="store_true", help="also write backbone.onnx and check it against torch"
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
    if args.onnx:
        from saip.export.onnx import export_onnx

        onnx_path, max_diff = export_onnx(backbone, out / f"{stem}.onnx")
        print(f"wrote {onnx_path} (max |onnxruntime - torch| = {max_diff:.2e})")
    return 0


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
