"""The expert encoder follows the student, including what timm caches in eval mode."""

from __future__ import annotations

import timm
import torch
from torch import nn

from saip.models.teacher import ExpertEncoder


class _Student(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = timm.create_model("tiny_vit_5m_224", num_classes=0)
        self.csm_head = nn.Linear(320, 8)


@torch.no_grad()
def test_tinyvit_attention_biases_reach_the_eval_mode_teacher() -> None:
    torch.manual_seed(0)
    student, x = _Student(), torch.randn(1, 3, 64, 64)
    teacher = ExpertEncoder(student)
    teacher.backbone(x)  # fills TinyViT's attention-bias cache
    for name, p in student.backbone.named_parameters():
        if "attention_biases" in name:
            p.add_(torch.randn_like(p))  # not a constant: softmax ignores one
    teacher.update(student, momentum=0.0)  # teacher = student
    torch.testing.assert_close(teacher.backbone(x), student.backbone.eval()(x))
