"""The backbone of an eval run: the configured weights, with stochastic depth when fine-tuning."""

from __future__ import annotations

from saip.export.weights import load_backbone
from saip.models.backbone import Backbone
from saip.tasks.config import EvalModelConfig


def load_eval_backbone(model: EvalModelConfig, *, finetune: bool) -> Backbone:
    """`load_backbone(model.weights, ...)`, with `model.drop_path` only when fine-tuning (stochastic
    depth is a training setting; frozen protocols must see the exact pretrained network)."""
    return load_backbone(
        model.weights,
        backbone=model.backbone,
        img_size=tuple(model.img_size),
        which=model.which,
        drop_path=model.drop_path if finetune else 0.0,
    )
