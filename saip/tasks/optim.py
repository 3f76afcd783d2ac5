"""The fine-tuning optimiser and its schedule, shared by every eval task.

Why layer-wise lr decay (BEiT, MAE fine-tuning): the early blocks of a pretrained backbone hold
general features that large updates would destroy; later blocks and the fresh head move most.
Why a schedule that is a function of the step: `--max-steps` stops a run early without changing
it, and a resumed run continues with exactly the learning rate it would have had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from timm.optim import param_groups_layer_decay
from torch import nn

from saip.tasks.config import EvalConfig, EvalOptimConfig
from saip.train.schedules import warmup_cosine


def build_optimizer(model: nn.Module, backbone: nn.Module | None, cfg: EvalOptimConfig) -> torch.optim.AdamW:
    """AdamW; backbone blocks get lr x layer_decay^(depth - layer), the rest (heads) the full lr.

    No weight decay on 1-D tensors (biases, norms) nor on the backbone's `no_weight_decay()` tokens.
    """
    groups: list[dict[str, Any]] = []
    in_backbone: set[int] = set()
    if backbone is not None:
        skip = backbone.no_weight_decay() if hasattr(backbone, "no_weight_decay") else set()
        groups = param_groups_layer_decay(
            backbone, weight_decay=cfg.weight_decay, no_weight_decay_list=skip, layer_decay=cfg.layer_decay
        )
        for group in groups:
            group["backbone"] = True
        in_backbone = {id(p) for p in backbone.parameters()}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in in_backbone]
    for decay, params in (
        (cfg.weight_decay, [p for p in rest if p.ndim > 1]),
        (0.0, [p for p in rest if p.ndim <= 1]),
    ):
        if params:
            groups.append({"params": params, "weight_decay": decay, "lr_scale": 1.0, "backbone": False})
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


@dataclass
class Schedule:
    """Learning rate as a function of the global optimizer step; its length never depends on max_steps.

    With `head_only` steps (LP-FT) the backbone's lr is 0 until then, and afterwards the same warm-up
    and cosine squeezed into the remaining steps; the head follows the plain schedule throughout."""

    total: int
    warmup: int
    peak: float
    final: float
    head_only: int = 0

    @classmethod
    def from_config(cls, cfg: EvalConfig, steps_per_epoch: int) -> Schedule:
        total = cfg.train.total_steps or cfg.train.epochs * steps_per_epoch
        warmup = min(round(cfg.optim.warmup_epochs * steps_per_epoch), max(total - 1, 0))
        head_only = cfg.optim.head_only_steps
        if not 0 <= head_only < total:
            raise ValueError(
                f"optim.head_only_steps={head_only} must be in [0, {total}) (the schedule's length)"
            )
        return cls(total, warmup, cfg.optim.lr, cfg.optim.min_lr, head_only)

    def lr(self, step: int) -> float:
        return warmup_cosine(step, self.total, self.warmup, self.peak, self.final)

    def backbone_lr(self, step: int) -> float:
        if step < self.head_only:
            return 0.0
        rest = self.total - self.head_only
        warmup = min(self.warmup, max(rest - 1, 0))
        return warmup_cosine(step - self.head_only, rest, warmup, self.peak, self.final)
