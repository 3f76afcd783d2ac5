"""`saip eval fashion`: instances with localized attributes on Fashionpedia, scored by AP and by
AP with IoU and attribute F1.

    saip eval fashion --data ROOT --weights W [--protocol finetune|frozen]

The backbone feeds torchvision's Mask R-CNN through the detector adaptor (one class per category
of the file) and a multi-label attribute head on each box's ROI features
(`saip.tasks.instance.attribute_detector`). Evaluation writes `detections.json` (COCO results:
`image_id`, `category_id`, `bbox` [x, y, w, h], `score`, `segmentation` RLE, `attribute_ids` with
probability >= `fashion.attribute_threshold`), scores it (`saip.tasks.instance.fashion_metrics`)
and draws `pictures/fashion.png`.
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
from pycocotools import mask as mask_utils
from torch import Tensor
from torch.utils.data import DataLoader

from saip.tasks.config import EvalConfig, load_eval_config
from saip.tasks.data.checks import scan
from saip.tasks.data.samplers import shuffled_epochs
from saip.tasks.dense.task import add_dense_arguments, dense_backbone
from saip.tasks.engine import Metric, TaskParts, open_run, run_task, select_device
from saip.tasks.instance.attribute_detector import AttributeDetector
from saip.tasks.instance.crowdhuman import collate
from saip.tasks.instance.detector import DetectorConfig, build_detector
from saip.tasks.instance.fashion_metrics import fashion_metrics
from saip.tasks.instance.fashionpedia import FashionDataset, FashionSet, check_image, load_split
from saip.tasks.instance.pictures import detection_picture, detection_tile
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)
RESULTS_FILE = "detections.json"


@dataclass
class FashionSection:
    # Garments are of every shape: square to tall anchors; 100 detections as COCO's AP counts.
    detector: DetectorConfig = field(
        default_factory=lambda: DetectorConfig(detections_per_img=100, aspect_ratios=(0.5, 1.0, 2.0))
    )
    # Weight of the attribute binary cross-entropy against the Mask R-CNN terms.
    attribute_weight: float = 1.0
    # An attribute is predicted where its probability is >= this; a mask pixel likewise.
    attribute_threshold: float = 0.5
    mask_threshold: float = 0.5
    # Probability of the training mirror.
    flip: float = 0.5
    # Validation images drawn into pictures/fashion.png, with detections scoring >= picture_score.
    pictures: int = 4
    picture_score: float = 0.5


@dataclass
class FashionConfig(EvalConfig):
    name: str = "fashion"
    format: str = "fashionpedia"
    protocol: str = "finetune"
    fashion: FashionSection = field(default_factory=FashionSection)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dense_arguments(parser, formats=["fashionpedia"])


def make_loss(
    weight: float,
) -> Callable[
    [AttributeDetector, tuple[list[Tensor], list[dict[str, Tensor]], list[int]]], dict[str, Tensor]
]:
    def loss(
        model: AttributeDetector, batch: tuple[list[Tensor], list[dict[str, Tensor]], list[int]]
    ) -> dict[str, Tensor]:
        """Mask R-CNN's five terms plus the weighted attribute cross-entropy."""
        images, targets, _ = batch
        terms = model(images, targets)
        total = sum(v for k, v in terms.items() if k != "loss_attributes") + weight * terms["loss_attributes"]
        return {"loss": total, **terms}

    return loss


def result_records(
    out: dict[str, Tensor], image_id: int, fashion: FashionSet, section: FashionSection
) -> list[dict[str, Any]]:
    """One image's detections as COCO results with attribute ids (file ids, not slots)."""
    masks = (out["masks"][:, 0] >= section.mask_threshold).cpu().numpy().astype(np.uint8)
    rles = mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0))) if len(masks) else []
    attributes = (out["attributes"] >= section.attribute_threshold).cpu().numpy()
    records = []
    for k, ((x1, y1, x2, y2), label, score) in enumerate(
        zip(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist(), strict=True)
    ):
        records.append(
            {
                "image_id": image_id,
                "category_id": fashion.category_ids[label - 1],
                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                "score": round(score, 5),
                "segmentation": {"size": list(rles[k]["size"]), "counts": rles[k]["counts"].decode("ascii")},
                "attribute_ids": [fashion.attribute_ids[j] for j in np.flatnonzero(attributes[k])],
            }
        )
    return records


def make_evaluate(
    val_set: FashionDataset, cfg: FashionConfig
) -> Callable[[AttributeDetector, RunDir], dict[str, Any]]:
    """The engine's `evaluate`: detections at the original size -> detections.json -> metrics + picture."""
    section, fashion = cfg.fashion, val_set.fashion

    def evaluate(model: AttributeDetector, run: RunDir) -> dict[str, Any]:
        device = next(model.parameters()).device
        loader = DataLoader(
            val_set,
            batch_size=cfg.train.eval_batch_size,
            num_workers=cfg.train.num_workers,
            collate_fn=collate,
        )
        results: list[dict[str, Any]] = []
        tiles: list[Image.Image] = []
        for images, targets, indices in loader:
            outputs = model([image.to(device) for image in images])
            for image, target, out, index in zip(images, targets, outputs, indices, strict=True):
                results += result_records(out, fashion.image_ids[index], fashion, section)
                if len(tiles) < section.pictures:
                    boxes, scores = out["boxes"].float().cpu().numpy(), out["scores"].float().cpu().numpy()
                    tiles.append(
                        detection_tile(
                            image,
                            target["boxes"].numpy(),
                            np.zeros((0, 4)),
                            boxes,
                            scores,
                            section.picture_score,
                        )
                    )
        run.write_json(RESULTS_FILE, results)
        log.info("%d detections written to %s", len(results), run.path / RESULTS_FILE)
        if tiles:
            detection_picture(tiles, run.pictures / "fashion.png")
        return fashion_metrics(fashion.coco, results)

    return evaluate


def run(args: argparse.Namespace) -> dict[str, Metric]:
    """The work of `saip eval fashion`: the metrics (also in `metrics.json`); `{}` after `--check-data`."""
    cfg = load_eval_config(FashionConfig, args)
    if cfg.format != "fashionpedia":
        raise ValueError(f"unknown fashion format {cfg.format!r}; supported: fashionpedia")
    root = Path(cfg.data)
    train, val = load_split(root, "train"), load_split(root, "val")
    if train.category_ids != val.category_ids or train.attribute_ids != val.attribute_ids:
        raise ValueError(f"{train.path} and {val.path} list different categories or attributes")
    if args.check_data:
        items = [(s, i) for s in (train, val) for i in s.image_ids]
        scan(items, check_image, f"{root} (Fashionpedia)")
        return {}
    backbone = dense_backbone(cfg)
    device = select_device(cfg.train.device)
    frozen = cfg.protocol == "frozen"
    section = cfg.fashion
    detector = build_detector(
        backbone,
        section.detector,
        frozen=frozen,
        amp=cfg.train.amp,
        kind="mask_rcnn",
        num_classes=len(train.category_ids) + 1,
    )
    model = AttributeDetector(detector, len(train.attribute_ids))  # type: ignore[arg-type]
    log.info(
        "Fashionpedia: %d train / %d val images, %d categories, %d attributes, %s",
        len(train.image_ids),
        len(val.image_ids),
        len(train.category_ids),
        len(train.attribute_ids),
        cfg.protocol,
    )
    train_set, val_set = FashionDataset(train, flip=section.flip), FashionDataset(val)
    with open_run(cfg) as run_dir:  # closed (log file, lock) if setup fails too
        parts = TaskParts(
            model=model,
            evaluate=make_evaluate(val_set, cfg),  # type: ignore[arg-type]
            train_set=train_set,
            epoch_batches=shuffled_epochs(len(train_set), cfg.train.batch_size, seed=cfg.train.seed),
            loss=make_loss(section.attribute_weight),  # type: ignore[arg-type]
            collate=collate,  # type: ignore[arg-type]
            backbone=None if frozen else backbone.model,
        )
        return run_task(parts, cfg, run_dir, device=device, resume=args.resume)
