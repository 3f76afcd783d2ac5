"""`saip eval pose`: top-down 2-D pose on COCO person keypoints or COCO-WholeBody, scored by OKS AP.

    saip eval pose --data ROOT --weights W [--format auto|coco|wholebody] [--protocol finetune|frozen]

Person boxes (ground truth, or `pose.detections`) are cropped to `model.img_size` (default 256x192),
the backbone's final tokens go through ViTPose's classic decoder to heatmaps at 1/4 of the input,
trained with a weighted MSE on UDP Gaussian targets; evaluation flips, decodes (DARK), maps the
points back to the image and scores `keypoints_results.json` with pycocotools (see
`saip.tasks.dense.coco_eval` for the whole-body parts).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from saip.errors import DataError
from saip.tasks.config import EvalConfig, EvalModelConfig, load_eval_config
from saip.tasks.data.checks import decode_image, read_json, scan
from saip.tasks.dense.coco_eval import evaluate_keypoints, make_result, save_results
from saip.tasks.dense.coco_pose import (
    PoseAugment,
    TopDownDataset,
    check_images,
    check_records,
    find_keypoint_set,
    load_annotations,
    person_instances,
)
from saip.tasks.dense.flip import flip_test
from saip.tasks.dense.heads import DenseModel, HeatmapHead, final_stride
from saip.tasks.dense.heatmap import decode
from saip.tasks.dense.keypoints import KeypointSet
from saip.tasks.dense.pictures import pose_picture
from saip.tasks.dense.task import (
    add_dense_arguments,
    dense_backbone,
    dense_parts,
    eval_loader,
)
from saip.tasks.engine import Metric, open_run, run_task, select_device
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)
RESULTS_FILE = "keypoints_results.json"


@dataclass
class PoseSection:
    # Std of the Gaussian targets in heatmap pixels (2 at 64x48, the field's default).
    heatmap_sigma: float = 2.0
    flip_test: bool = True
    # Person boxes for validation in COCO results format (e.g. the detector boxes of SimpleBaseline,
    # AP 56 on person); empty: the ground-truth boxes.
    detections: str = ""
    det_score_thr: float = 0.0
    # A person's score is its box score times the mean confidence of its points above this value.
    point_score_thr: float = 0.2
    # Channels of the two deconvolutions (ViTPose: 256).
    head_width: int = 256
    augment: PoseAugment = field(default_factory=PoseAugment)
    # Validation crops drawn into pictures/pose.png.
    pictures: int = 16


@dataclass
class PoseConfig(EvalConfig):
    name: str = "pose"
    # auto: COCO person keypoints when its annotation files are there, else COCO-WholeBody.
    format: str = "auto"
    protocol: str = "finetune"
    model: EvalModelConfig = field(default_factory=lambda: EvalModelConfig(img_size=(256, 192)))
    pose: PoseSection = field(default_factory=PoseSection)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dense_arguments(parser, formats=["auto", "coco", "wholebody"])


def heatmap_loss(model: DenseModel, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """MSE over heatmaps, points without a label (weight 0) contributing nothing (ViTPose / mmpose)."""
    weight = batch["weight"][:, :, None, None]
    mse = F.mse_loss(model(batch["image"]).float() * weight, batch["target"] * weight)
    return {"loss": mse, "loss_heatmap": mse}


def predict(model: DenseModel, images: Tensor, flip_index: np.ndarray | None) -> tuple[Tensor, Tensor]:
    """Points [B, K, 2] in crop pixels and their confidences [B, K]."""
    heatmaps = flip_test(model, images, flip_index) if flip_index is not None else model(images)
    return decode(heatmaps, tuple(images.shape[-2:]))


def instance_score(scores: np.ndarray, box_score: float, threshold: float) -> float:
    """Box score x mean confidence of the confident points (SimpleBaseline's rescoring)."""
    confident = scores[scores > threshold]
    return float(confident.mean()) * box_score if confident.size else 0.0


def make_evaluate(
    val_set: TopDownDataset, gt: dict[str, Any], kpset: KeypointSet, cfg: PoseConfig
) -> Callable[[DenseModel, RunDir], dict[str, Any]]:
    """The engine's `evaluate`: predictions -> keypoints_results.json -> OKS metrics + a picture."""

    def evaluate(model: DenseModel, run: RunDir) -> dict[str, Any]:
        device = next(model.parameters()).device
        flip_index = kpset.flip_index() if cfg.pose.flip_test else None
        results, drawn = [], False
        for batch in eval_loader(val_set, cfg):
            images = batch["image"].to(device)
            points, scores = predict(model, images, flip_index)
            points, scores = points.cpu().double(), scores.cpu().double()
            inverse = batch["inverse"].double()
            in_image = points @ inverse[:, :, :2].transpose(1, 2) + inverse[:, None, :, 2]
            for i, index in enumerate(batch["index"].tolist()):
                inst = val_set.instances[index]
                s = scores[i].numpy()
                results.append(
                    make_result(
                        inst.image_id,
                        np.concatenate([in_image[i].numpy(), s[:, None]], 1),
                        instance_score(s, inst.score, cfg.pose.point_score_thr),
                        kpset,
                    )
                )
            if not drawn and cfg.pose.pictures > 0:
                n = cfg.pose.pictures
                pose_picture(batch["image"][:n], points[:n], batch["points"][:n], run.pictures / "pose.png")
                drawn = True
        save_results(results, run.path / RESULTS_FILE)
        log.info("%d person results written to %s", len(results), run.path / RESULTS_FILE)
        return evaluate_keypoints(gt, results, kpset)

    return evaluate


def run(args: argparse.Namespace) -> dict[str, Metric]:
    """The work of `saip eval pose`: the metrics (also in `metrics.json`); `{}` after `--check-data`."""
    cfg = load_eval_config(PoseConfig, args)
    root = Path(cfg.data)
    kpset = find_keypoint_set(root, cfg.format)
    size = tuple(cfg.model.img_size)
    train_instances = person_instances(load_annotations(root, "train", kpset), root / "train2017", kpset)
    check_images(train_instances, f"{kpset.name} train")
    gt_val = load_annotations(root, "val", kpset)
    detections = None
    if cfg.pose.detections:
        det_path = Path(cfg.pose.detections)
        if not det_path.is_file():
            raise ValueError(f"pose.detections file not found: {det_path}")
        detections = read_json(det_path)
        if not isinstance(detections, list):
            raise DataError(f"{det_path}: not a COCO results list")
        check_records(det_path, detections, "detection", ("image_id", "score"))
    val_instances = person_instances(gt_val, root / "val2017", kpset, detections, cfg.pose.det_score_thr)
    check_images(val_instances, f"{kpset.name} val")
    if args.check_data:
        files = sorted({inst.file for inst in train_instances + val_instances})
        scan(files, decode_image, f"{root} ({kpset.name})")
        return {}
    backbone = dense_backbone(cfg)
    device = select_device(cfg.train.device)
    head = HeatmapHead(backbone.embed_dim, kpset.num, final_stride(backbone), cfg.pose.head_width)
    model = DenseModel(backbone, head, mid=False, frozen=cfg.protocol == "frozen")
    log.info(
        "%s: %d train / %d val people, input %s, %s",
        kpset.name,
        len(train_instances),
        len(val_instances),
        size,
        cfg.protocol,
    )
    train_set = TopDownDataset(
        train_instances, kpset, size, augment=cfg.pose.augment, sigma=cfg.pose.heatmap_sigma
    )
    val_set = TopDownDataset(val_instances, kpset, size, sigma=cfg.pose.heatmap_sigma)
    with open_run(cfg) as run_dir:  # closed (log file, lock) if setup fails too
        parts = dense_parts(cfg, model, train_set, heatmap_loss, make_evaluate(val_set, gt_val, kpset, cfg))
        return run_task(parts, cfg, run_dir, device=device, resume=args.resume)
