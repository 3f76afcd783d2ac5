"""`saip eval parsing`: human part segmentation on LIP (20 classes), scored by mIoU.

    saip eval parsing --data ROOT --weights W [--protocol finetune|frozen]

Each image is fitted (aspect kept) into `model.img_size`: the default 480x480 is the field's
473x473 rounded up to a multiple of 16; CPU configs use much smaller inputs. The decoder fuses the
backbone's final and intermediate taps and upsamples to 1/4 (`PartHead`); cross-entropy on the
logits upsampled to the input, 255 ignored. Evaluation flips (swapping left/right classes), warps
the logits back onto the original image and accumulates one confusion matrix over the set.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from saip.tasks.config import EvalConfig, EvalModelConfig, load_eval_config
from saip.tasks.data.checks import scan
from saip.tasks.dense.affine import warp_back
from saip.tasks.dense.flip import flip_test, swap_index
from saip.tasks.dense.heads import DenseModel, PartHead
from saip.tasks.dense.lip import IGNORE, LIP_CLASSES, LIP_PAIRS, LIPDataset, check_pair, lip_files
from saip.tasks.dense.pictures import parsing_picture
from saip.tasks.dense.seg_metrics import ConfusionMatrix, segmentation_metrics
from saip.tasks.dense.task import (
    add_dense_arguments,
    dense_backbone,
    dense_parts,
    eval_loader,
)
from saip.tasks.engine import Metric, open_run, run_task, select_device
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)


@dataclass
class ParsingSection:
    flip_test: bool = True
    # Channels of the decoder (light on purpose: the backbone should do the work).
    head_width: int = 128
    # Training augmentation: std of the scale factor and of the rotation (degrees, p 0.6).
    scale: float = 0.25
    rotation: float = 30.0
    # Validation images drawn into pictures/parsing.png as (image, truth, prediction) rows.
    pictures: int = 6


@dataclass
class ParsingConfig(EvalConfig):
    name: str = "parsing"
    format: str = "lip"
    protocol: str = "finetune"
    model: EvalModelConfig = field(default_factory=lambda: EvalModelConfig(img_size=(480, 480)))
    parsing: ParsingSection = field(default_factory=ParsingSection)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dense_arguments(parser, formats=["lip"])


def part_loss(model: DenseModel, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Pixel cross-entropy at input resolution, ignoring 255 (padding and unlabelled pixels)."""
    logits = F.interpolate(
        model(batch["image"]).float(), size=batch["label"].shape[-2:], mode="bilinear", align_corners=False
    )
    ce = F.cross_entropy(logits, batch["label"], ignore_index=IGNORE)
    return {"loss": ce, "loss_ce": ce}


def make_evaluate(val_set: LIPDataset, cfg: ParsingConfig) -> Callable[[DenseModel, RunDir], dict[str, Any]]:
    """The engine's `evaluate`: one confusion matrix over the set at original resolution + a picture."""

    def evaluate(model: DenseModel, run: RunDir) -> dict[str, Any]:
        device = next(model.parameters()).device
        index = swap_index(len(LIP_CLASSES), LIP_PAIRS)
        confusion = ConfusionMatrix(len(LIP_CLASSES), IGNORE)
        shown: list[tuple[Tensor, Tensor, Tensor]] = []
        for batch in eval_loader(val_set, cfg):
            images = batch["image"].to(device)
            logits = flip_test(model, images, index) if cfg.parsing.flip_test else model(images)
            logits = F.interpolate(
                logits.float(), size=images.shape[-2:], mode="bilinear", align_corners=False
            )
            for i, sample in enumerate(batch["index"].tolist()):
                label, matrix = val_set.original(sample)
                confusion.update(warp_back(logits[i], matrix, tuple(label.shape)).argmax(0).cpu(), label)
                if len(shown) < cfg.parsing.pictures:
                    shown.append((batch["image"][i], batch["label"][i], logits[i].argmax(0).cpu()))
        if shown:
            parsing_picture(
                *map(torch.stack, zip(*shown, strict=True)), len(LIP_CLASSES), run.pictures / "parsing.png"
            )
        return segmentation_metrics(confusion.counts)

    return evaluate


def run(args: argparse.Namespace) -> dict[str, Metric]:
    """The work of `saip eval parsing`: the metrics (also in `metrics.json`); `{}` after `--check-data`."""
    cfg = load_eval_config(ParsingConfig, args)
    if cfg.format != "lip":
        raise ValueError(f"unknown parsing format {cfg.format!r}; supported: lip")
    root = Path(cfg.data)
    train_files, val_files = lip_files(root, "train"), lip_files(root, "val")
    if args.check_data:
        scan(train_files + val_files, check_pair, f"{root} (LIP)")
        return {}
    backbone = dense_backbone(cfg)
    device = select_device(cfg.train.device)
    head = PartHead(backbone.embed_dim, backbone.mid_dim, len(LIP_CLASSES), cfg.parsing.head_width)
    model = DenseModel(backbone, head, mid=True, frozen=cfg.protocol == "frozen")
    size = tuple(cfg.model.img_size)
    log.info(
        "LIP: %d train / %d val images, input %s, %s", len(train_files), len(val_files), size, cfg.protocol
    )
    train_set = LIPDataset(
        train_files, size, train=True, scale=cfg.parsing.scale, rotation=cfg.parsing.rotation
    )
    val_set = LIPDataset(val_files, size)
    with open_run(cfg) as run_dir:  # closed (log file, lock) if setup fails too
        parts = dense_parts(cfg, model, train_set, part_loss, make_evaluate(val_set, cfg))
        return run_task(parts, cfg, run_dir, device=device, resume=args.resume)
