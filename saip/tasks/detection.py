"""`saip eval detection`: pedestrian detection on CrowdHuman, scored by AP, MR-2 and JI.

    saip eval detection --data ROOT --weights W [--format crowdhuman|coco] [--protocol finetune|frozen]

The backbone feeds torchvision's Faster R-CNN through a feature pyramid (`saip.tasks.instance.
detector`); images keep their aspect, resized to `detection.detector.min_size` / `max_size`.
Training: full-body boxes as targets, ignore regions neither positive nor negative in the box
head, random mirror. Evaluation writes `detections.json` (CrowdHuman's results format: per image
`ID`, `width`, `height`, `dtboxes` of `box` [x, y, w, h], `score`, `tag`), scores it with the
toolkit's definitions (`saip.tasks.instance.crowd_metrics`) and draws `pictures/detection.png`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader

from saip.tasks.config import EvalConfig, load_eval_config
from saip.tasks.data.checks import scan
from saip.tasks.data.samplers import shuffled_epochs
from saip.tasks.dense.task import add_dense_arguments, dense_backbone
from saip.tasks.engine import Metric, TaskParts, open_run, run_task, select_device
from saip.tasks.instance.crowd_metrics import ImageBoxes, crowdhuman_metrics
from saip.tasks.instance.crowdhuman import FORMATS, BoxDataset, BoxRecord, check_record, collate, load_split
from saip.tasks.instance.detector import Detector, DetectorConfig, build_detector
from saip.tasks.instance.pictures import detection_picture, detection_tile
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)
RESULTS_FILE = "detections.json"


@dataclass
class DetectionSection:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    # Probability of the training mirror.
    flip: float = 0.5
    # Validation images drawn into pictures/detection.png, with detections scoring >= picture_score.
    pictures: int = 4
    picture_score: float = 0.5


@dataclass
class DetectionConfig(EvalConfig):
    name: str = "detection"
    format: str = "crowdhuman"
    protocol: str = "finetune"
    detection: DetectionSection = field(default_factory=DetectionSection)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dense_arguments(parser, formats=FORMATS)


def detection_loss(
    model: Detector, batch: tuple[list[Tensor], list[dict[str, Tensor]], list[int]]
) -> dict[str, Tensor]:
    """torchvision's four terms (RPN objectness and box, box-head class and box), summed."""
    images, targets, _ = batch
    terms = model(images, targets)
    return {"loss": sum(terms.values()), **terms}  # type: ignore[dict-item]


def result_record(record: BoxRecord, boxes: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """One image in CrowdHuman's results format ([x, y, w, h] boxes, tag 1 = person)."""
    return {
        "ID": record.image_id,
        "width": record.size[1],
        "height": record.size[0],
        "dtboxes": [
            {
                "box": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                "score": round(s, 5),
                "tag": 1,
            }
            for (x1, y1, x2, y2), s in zip(boxes.tolist(), scores.tolist(), strict=True)
        ],
    }


def make_evaluate(val_set: BoxDataset, cfg: DetectionConfig) -> Callable[[nn.Module, RunDir], dict[str, Any]]:
    """The engine's `evaluate`: detections at the original size -> detections.json -> metrics + picture."""

    def evaluate(model: nn.Module, run: RunDir) -> dict[str, Any]:
        device = next(model.parameters()).device
        loader = DataLoader(
            val_set,
            batch_size=cfg.train.eval_batch_size,
            num_workers=cfg.train.num_workers,
            collate_fn=collate,
        )
        scored: list[ImageBoxes] = []
        results: list[dict[str, Any]] = []
        tiles: list[Image.Image] = []
        for images, _, indices in loader:
            outputs = model([image.to(device) for image in images])
            for image, out, index in zip(images, outputs, indices, strict=True):
                record = val_set.records[index]
                boxes, scores = out["boxes"].float().cpu().numpy(), out["scores"].float().cpu().numpy()
                scored.append(ImageBoxes(record.boxes, record.ignore, boxes.astype(np.float64), scores))
                results.append(result_record(record, boxes, scores))
                if len(tiles) < cfg.detection.pictures:
                    tiles.append(
                        detection_tile(
                            image, record.boxes, record.ignore, boxes, scores, cfg.detection.picture_score
                        )
                    )
        run.write_json(RESULTS_FILE, results)
        log.info("%d images' detections written to %s", len(results), run.path / RESULTS_FILE)
        if tiles:
            detection_picture(tiles, run.pictures / "detection.png")
        return crowdhuman_metrics(scored)

    return evaluate


def run(args: argparse.Namespace) -> dict[str, Metric]:
    """The work of `saip eval detection`: the metrics (also in `metrics.json`); `{}` after `--check-data`."""
    cfg = load_eval_config(DetectionConfig, args)
    root = Path(cfg.data)
    train_records, val_records = load_split(root, cfg.format, "train"), load_split(root, cfg.format, "val")
    if args.check_data:
        scan(train_records + val_records, check_record, f"{root} ({cfg.format})")
        return {}
    backbone = dense_backbone(cfg)
    device = select_device(cfg.train.device)
    frozen = cfg.protocol == "frozen"
    model = build_detector(backbone, cfg.detection.detector, frozen=frozen, amp=cfg.train.amp)
    log.info(
        "%s: %d train / %d val images, %d / %d people, %s",
        cfg.format,
        len(train_records),
        len(val_records),
        sum(len(r.boxes) for r in train_records),
        sum(len(r.boxes) for r in val_records),
        cfg.protocol,
    )
    train_set = BoxDataset(train_records, flip=cfg.detection.flip)
    val_set = BoxDataset(val_records)
    with open_run(cfg) as run_dir:  # closed (log file, lock) if setup fails too
        parts = TaskParts(
            model=model,
            evaluate=make_evaluate(val_set, cfg),
            train_set=train_set,
            epoch_batches=shuffled_epochs(len(train_set), cfg.train.batch_size, seed=cfg.train.seed),
            loss=detection_loss,  # type: ignore[arg-type]
            collate=collate,  # type: ignore[arg-type]
            backbone=None if frozen else backbone.model,
        )
        return run_task(parts, cfg, run_dir, device=device, resume=args.resume)
