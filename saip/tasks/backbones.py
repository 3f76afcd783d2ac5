"""The backbone of an eval run: the configured weights, with stochastic depth when fine-tuning."""

from __future__ import annotations

from saip.export.weights import load_backbone
from saip.models.backbone import Backbone, create_backbone
from saip.tasks.config import EvalModelConfig


def load_eval_backbone(model: EvalModelConfig, *, finetune: bool) -> Backbone:
    """`load_backbone(model.weights, ...)`; fine-tuning rebuilds it with `model.drop_path` (same
    weights), since stochastic depth is a training setting the loaded model does not carry."""
    backbone = load_backbone(model.weights, backbone=model.backbone, img_size=tuple(model.img_size),
                             which=model.which)
    if not finetune or model.drop_path <= 0:
        return backbone
    rebuilt = create_backbone(backbone.name, backbone.img_size, backbone.mid_block, model.drop_path)
    rebuilt.load_state_dict(backbone.state_dict())
    return rebuilt
