"""What the dense tasks (pose, parsing) share on top of the engine: flags, backbone, protocol.

Protocols: `finetune` trains backbone and head (layer-wise lr decay on the backbone's blocks);
`frozen` keeps the backbone fixed and trains only the head, which measures the features alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from saip.cli import add_run_arguments
from saip.models.backbone import Backbone
from saip.tasks.backbones import load_eval_backbone
from saip.tasks.config import EvalConfig, add_eval_arguments
from saip.tasks.data.samplers import shuffled_epochs
from saip.tasks.dense.heads import DenseModel, final_stride
from saip.tasks.engine import TaskParts
from saip.train.rundir import RunDir

PROTOCOLS = ["finetune", "frozen"]


def add_dense_arguments(parser: argparse.ArgumentParser, formats: list[str]) -> None:
    add_run_arguments(parser)
    add_eval_arguments(parser, formats=formats, protocols=PROTOCOLS)


def dense_backbone(cfg: EvalConfig) -> Backbone:
    """The configured weights, checked to fit the protocol and input size before anything runs."""
    if cfg.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {cfg.protocol!r}; use one of {', '.join(PROTOCOLS)}")
    backbone = load_eval_backbone(cfg.model, finetune=cfg.protocol == "finetune")
    stride = final_stride(backbone)
    h, w = cfg.model.img_size
    if h % stride or w % stride:
        raise ValueError(
            f"model.img_size (H, W)=({h}, {w}) must be multiples of {stride} for {backbone.name}"
        )
    return backbone


def dense_parts(
    cfg: EvalConfig,
    model: DenseModel,
    train_set: Dataset,
    loss: Callable[[DenseModel, dict[str, Tensor]], dict[str, Tensor]],
    evaluate: Callable[[DenseModel, RunDir], dict[str, Any]],
) -> TaskParts:
    """Engine parts for a dense task; layer-wise lr decay applies to the fine-tuned timm model."""
    return TaskParts(
        model=model,
        evaluate=evaluate,
        train_set=train_set,
        loss=loss,  # type: ignore[arg-type]
        epoch_batches=shuffled_epochs(len(train_set), cfg.train.batch_size, seed=cfg.train.seed),  # type: ignore[arg-type]
        backbone=None if model.frozen else model.backbone.model,
    )


def eval_loader(dataset: Dataset, cfg: EvalConfig) -> DataLoader:
    """In-order batches for prediction (no gradients, so the larger eval batch size)."""
    return DataLoader(
        dataset, batch_size=cfg.train.eval_batch_size, shuffle=False, num_workers=cfg.train.num_workers
    )
