"""`saip eval attributes`: pedestrian attribute recognition, a linear probe or full fine-tuning.

    saip eval attributes --data ROOT [--format pa100k|peta] --weights W [--protocol linear|finetune]

- linear: the frozen backbone's global embedding is computed once per image; a linear head
  (+ BatchNorm on the logits, the baseline of Jia et al. 2020) is trained on it by the engine.
- finetune: backbone + the same head, trained end to end with layer-wise lr decay.
Both use the weighted binary cross-entropy of DeepMAR and write `predictions.npz` (`scores`,
`labels`, `attributes`) next to `metrics.json` (mA and the instance-based metrics).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from saip.cli import add_run_arguments
from saip.models.backbone import Backbone
from saip.tasks.attribute_metrics import attribute_metrics
from saip.tasks.attribute_pictures import save_attribute_picture
from saip.tasks.backbones import load_eval_backbone
from saip.tasks.config import AttributesConfig, add_eval_arguments, load_eval_config
from saip.tasks.data.attribute_sets import AttributeImages, AttributeSets, read_attributes
from saip.tasks.data.checks import decode_image, scan
from saip.tasks.data.samplers import shuffled_epochs
from saip.tasks.data.transforms import eval_transform, train_transform
from saip.tasks.engine import Metric, TaskParts, open_run, run_task, select_device
from saip.tasks.features import eval_mode, extract_features
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)

FORMATS = ["pa100k", "peta"]
PROTOCOLS = ["linear", "finetune"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    add_eval_arguments(parser, formats=FORMATS, protocols=PROTOCOLS)


class AttributeModel(nn.Module):
    """[B, D] embedding (of `backbone`, or given directly when it is None) -> [B, A] logits."""

    def __init__(self, backbone: nn.Module | None, embed_dim: int, num_attributes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(embed_dim, num_attributes)
        self.logit_norm = nn.BatchNorm1d(num_attributes)

    def forward(self, x: Tensor) -> Tensor:
        feats = self.backbone(x) if self.backbone is not None else x
        return self.logit_norm(self.head(feats.float()))


def deepmar_weights(labels: Tensor, positive_ratio: Tensor) -> Tensor:
    """exp(1 - p) on positives, exp(p) on negatives, p each attribute's training frequency [A]."""
    return torch.where(labels > 0.5, torch.exp(1 - positive_ratio), torch.exp(positive_ratio))


def _loss_fn(
    cfg: AttributesConfig, positive_ratio: Tensor
) -> Callable[[nn.Module, tuple[Tensor, Tensor]], dict]:
    def loss(model: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        inputs, labels = batch
        logits = model(inputs).float()
        weight = (
            deepmar_weights(labels, positive_ratio.to(labels.device))
            if cfg.attributes.weighted_loss
            else None
        )
        bce = F.binary_cross_entropy_with_logits(logits, labels, weight=weight)
        return {"loss": bce, "loss_bce": bce}

    return loss


def _evaluator(
    test_set: Dataset, sets: AttributeSets, cfg: AttributesConfig, device: torch.device
) -> Callable[[nn.Module, RunDir], dict[str, float]]:
    def evaluate(model: nn.Module, run: RunDir) -> dict[str, float]:
        logits = extract_features(
            model,
            test_set,
            device=device,
            batch_size=cfg.train.eval_batch_size,
            num_workers=cfg.train.num_workers,
            amp=cfg.train.amp,
        )
        scores = torch.sigmoid(logits).numpy()
        np.savez(
            run.path / "predictions.npz",
            scores=scores,
            labels=sets.test.labels.astype(np.uint8),
            attributes=np.array(sets.names),
        )
        save_attribute_picture(
            scores, sets.test, sets.names, run.pictures / "attributes.png", threshold=cfg.attributes.threshold
        )
        return attribute_metrics(scores, sets.test.labels, cfg.attributes.threshold)

    return evaluate


def _frozen_features(
    backbone: Backbone, sets: AttributeSets, cfg: AttributesConfig, device: torch.device
) -> tuple[TensorDataset, TensorDataset]:
    """(train, test) datasets of precomputed embeddings [N, D] with their labels [N, A]."""
    transform = eval_transform(cfg.model.img_size)
    backbone.to(device)
    with eval_mode(backbone):
        feats = [
            extract_features(
                backbone,
                AttributeImages(items, transform),
                device=device,
                batch_size=cfg.train.eval_batch_size,
                num_workers=cfg.train.num_workers,
                amp=cfg.train.amp,
            )
            for items in (sets.train, sets.test)
        ]
    return (
        TensorDataset(feats[0], torch.from_numpy(sets.train.labels)),
        TensorDataset(feats[1], torch.from_numpy(sets.test.labels)),
    )


def run(args: argparse.Namespace) -> dict[str, Metric]:
    """The work of `saip eval attributes`: the metrics (also in `metrics.json`); `{}` after `--check-data`."""
    cfg = load_eval_config(AttributesConfig, args)
    if cfg.protocol not in PROTOCOLS:
        raise ValueError(f"unknown attribute protocol {cfg.protocol!r}; known: {', '.join(PROTOCOLS)}")
    device = select_device(cfg.train.device)
    sets = read_attributes(cfg.data, cfg.format, cfg.attributes.peta_split if cfg.format == "peta" else "")
    log.info(
        "%s: %d train, %d test images, %d attributes",
        cfg.data,
        len(sets.train.paths),
        len(sets.test.paths),
        len(sets.names),
    )
    if args.check_data:
        scan(sets.train.paths + sets.test.paths, decode_image, str(cfg.data))
        return {}
    backbone = load_eval_backbone(cfg.model, finetune=cfg.protocol == "finetune")
    if len(sets.train.paths) < cfg.train.batch_size:
        raise ValueError(
            f"train.batch_size {cfg.train.batch_size} exceeds the {len(sets.train.paths)} training images"
        )
    with open_run(cfg) as run_dir:  # closed (log file, lock) if setup fails too
        num_attributes = len(sets.names)
        if cfg.protocol == "linear":
            train_set, test_set = _frozen_features(backbone, sets, cfg, device)
            model, decay_root = AttributeModel(None, backbone.embed_dim, num_attributes), None
        else:
            train_set = AttributeImages(
                sets.train, train_transform(cfg.model.img_size, erasing=cfg.attributes.erasing)
            )
            test_set = AttributeImages(sets.test, eval_transform(cfg.model.img_size))
            model, decay_root = AttributeModel(backbone, backbone.embed_dim, num_attributes), backbone.model
        n = len(sets.train.paths)
        parts = TaskParts(
            model=model,
            evaluate=_evaluator(test_set, sets, cfg, device),
            train_set=train_set,
            backbone=decay_root,
            loss=_loss_fn(cfg, torch.from_numpy(sets.train.labels.mean(0))),
            epoch_batches=shuffled_epochs(n, cfg.train.batch_size, seed=cfg.train.seed),
        )
        return run_task(parts, cfg, run_dir, device=device, resume=args.resume)
