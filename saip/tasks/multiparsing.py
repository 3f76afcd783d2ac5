"""`saip eval multiparsing`: multi-human parsing on CIHP, scored by mIoU, APp and APr.

    saip eval multiparsing --data ROOT --weights W [--protocol finetune|frozen]

The backbone feeds torchvision's Mask R-CNN (people) through the detector adaptor and, in the
same pass, the parsing head of `saip eval parsing` (20 part classes); a person's parsing is the
part map inside its mask (`saip.tasks.instance.multiparser`). Images keep their aspect, resized
to `multiparsing.detector.min_size` / `max_size`. Training: torchvision's five Mask R-CNN terms
plus the part cross-entropy (`multiparsing.part_weight`), random mirror (left / right classes
swapped). Evaluation: the part map's mIoU over the 20 classes (one confusion matrix over the
set), APp and APr over the predicted people (`saip.tasks.instance.parsing_metrics`), and
`pictures/multiparsing.png`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader

from saip.tasks.config import EvalConfig, load_eval_config
from saip.tasks.data.checks import scan
from saip.tasks.data.samplers import shuffled_epochs
from saip.tasks.dense.heads import PartHead
from saip.tasks.dense.pictures import grid
from saip.tasks.dense.seg_metrics import ConfusionMatrix, segmentation_metrics
from saip.tasks.dense.task import add_dense_arguments, dense_backbone
from saip.tasks.engine import Metric, TaskParts, open_run, run_task, select_device
from saip.tasks.instance.cihp import CIHP_CLASSES, CIHPDataset, check_record, cihp_split, load_labels
from saip.tasks.instance.crowdhuman import collate
from saip.tasks.instance.detector import DetectorConfig, build_detector
from saip.tasks.instance.multiparser import MultiParser
from saip.tasks.instance.parsing_metrics import InstanceParsingAP
from saip.tasks.instance.pictures import parsing_row
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)


@dataclass
class MultiParsingSection:
    # CIHP has at most ~20 people an image, so torchvision's 100 detections do not cap recall.
    detector: DetectorConfig = field(default_factory=lambda: DetectorConfig(detections_per_img=100))
    # Channels of the part decoder (as `saip eval parsing`).
    head_width: int = 128
    # Weight of the part cross-entropy against the Mask R-CNN terms.
    part_weight: float = 1.0
    # A pixel belongs to a predicted person where its mask probability is >= this.
    mask_threshold: float = 0.5
    # Probability of the training mirror.
    flip: float = 0.5
    # Validation images drawn into pictures/multiparsing.png, people scoring >= picture_score.
    pictures: int = 4
    picture_score: float = 0.5


@dataclass
class MultiParsingConfig(EvalConfig):
    name: str = "multiparsing"
    format: str = "cihp"
    protocol: str = "finetune"
    multiparsing: MultiParsingSection = field(default_factory=MultiParsingSection)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dense_arguments(parser, formats=["cihp"])


def make_loss(
    weight: float,
) -> Callable[[MultiParser, tuple[list[Tensor], list[dict[str, Tensor]], list[int]]], dict[str, Tensor]]:
    def loss(
        model: MultiParser, batch: tuple[list[Tensor], list[dict[str, Tensor]], list[int]]
    ) -> dict[str, Tensor]:
        """Mask R-CNN's five terms plus the weighted part cross-entropy."""
        images, targets, _ = batch
        terms = model(images, targets)
        total = sum(v for k, v in terms.items() if k != "loss_parts") + weight * terms["loss_parts"]
        return {"loss": total, **terms}

    return loss


def person_maps(out: dict[str, Tensor], parts: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(scores [P], part maps [P, H, W] uint8): each detected person's part classes inside its mask."""
    masks = (out["masks"][:, 0] >= threshold).cpu().numpy()
    return out["scores"].float().cpu().numpy(), np.where(masks, parts[None], 0).astype(np.uint8)


def make_evaluate(
    val_set: CIHPDataset, cfg: MultiParsingConfig
) -> Callable[[MultiParser, RunDir], dict[str, Any]]:
    """The engine's `evaluate`: part confusion and instance APs at the original size + a picture."""
    section = cfg.multiparsing

    def evaluate(model: MultiParser, run: RunDir) -> dict[str, Any]:
        device = next(model.parameters()).device
        loader = DataLoader(
            val_set,
            batch_size=cfg.train.eval_batch_size,
            num_workers=cfg.train.num_workers,
            collate_fn=collate,
        )
        confusion = ConfusionMatrix(len(CIHP_CLASSES))
        instances = InstanceParsingAP(len(CIHP_CLASSES))
        tiles: list[Image.Image] = []
        for images, _, indices in loader:
            outputs, logits = model([image.to(device) for image in images])
            for image, out, part_logits, index in zip(images, outputs, logits, indices, strict=True):
                labels = load_labels(val_set.records[index])
                parts = part_logits.argmax(0).cpu()
                confusion.update(parts, torch.from_numpy(labels.category))
                scores, maps = person_maps(out, parts.numpy(), section.mask_threshold)
                _, persons = labels.persons()
                instances.add(persons, labels.regions(), (scores, maps))
                if len(tiles) < 4 * section.pictures:
                    shown = maps[scores >= section.picture_score] > 0
                    tiles += parsing_row(image, persons > 0, shown, parts.numpy(), len(CIHP_CLASSES))
        if tiles:
            grid(tiles, columns=4).save(run.pictures / "multiparsing.png")
        semantic = segmentation_metrics(confusion.counts)
        return {"mIoU": semantic["mIoU"], **instances.result(), "per_class_iou": semantic["per_class_iou"]}

    return evaluate


def run(args: argparse.Namespace) -> dict[str, Metric]:
    """The work of `saip eval multiparsing`: the metrics (also in `metrics.json`); `{}` after `--check-data`."""
    cfg = load_eval_config(MultiParsingConfig, args)
    if cfg.format != "cihp":
        raise ValueError(f"unknown multiparsing format {cfg.format!r}; supported: cihp")
    root = Path(cfg.data)
    train_records, val_records = cihp_split(root, "train"), cihp_split(root, "val")
    if args.check_data:
        scan(train_records + val_records, check_record, f"{root} (CIHP)")
        return {}
    backbone = dense_backbone(cfg)
    device = select_device(cfg.train.device)
    frozen = cfg.protocol == "frozen"
    section = cfg.multiparsing
    detector = build_detector(backbone, section.detector, frozen=frozen, amp=cfg.train.amp, kind="mask_rcnn")
    head = PartHead(backbone.embed_dim, backbone.mid_dim, len(CIHP_CLASSES), section.head_width)
    model = MultiParser(detector, head)  # type: ignore[arg-type]
    log.info("CIHP: %d train / %d val images, %s", len(train_records), len(val_records), cfg.protocol)
    train_set = CIHPDataset(train_records, flip=section.flip)
    val_set = CIHPDataset(val_records)
    with open_run(cfg) as run_dir:  # closed (log file, lock) if setup fails too
        parts = TaskParts(
            model=model,
            evaluate=make_evaluate(val_set, cfg),  # type: ignore[arg-type]
            train_set=train_set,
            epoch_batches=shuffled_epochs(len(train_set), cfg.train.batch_size, seed=cfg.train.seed),
            loss=make_loss(section.part_weight),  # type: ignore[arg-type]
            collate=collate,  # type: ignore[arg-type]
            backbone=None if frozen else backbone.model,
        )
        return run_task(parts, cfg, run_dir, device=device, resume=args.resume)
