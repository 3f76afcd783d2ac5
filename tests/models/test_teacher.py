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


def _reference_update(teacher: ExpertEncoder, student: nn.Module, momentum: float) -> None:
    """The EMA written out over freshly built state dicts."""
    for name in ("backbone", "csm_head"):
        mine, theirs = getattr(teacher, name).state_dict(), getattr(student, name).state_dict()
        for key, t in mine.items():
            t.copy_(torch.lerp(t, theirs[key], 1.0 - momentum) if t.is_floating_point() else theirs[key])


@torch.no_grad()
def test_cached_foreach_ema_equals_the_state_dict_ema_over_steps() -> None:
    torch.manual_seed(0)
    student = _Student()
    fast, ref = ExpertEncoder(student), ExpertEncoder(student)
    for step in range(3):  # the lists gathered at the first update keep following the student
        for t in student.state_dict().values():
            t.add_(torch.randn_like(t) if t.is_floating_point() else 1)
        fast.update(student, momentum=0.9)
        _reference_update(ref, student, momentum=0.9)
        for (key, a), b in zip(fast.state_dict().items(), ref.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"step {step}: {key}")
    student.load_state_dict(_Student().state_dict())  # in place: the cached lists stay valid
    fast.update(student, momentum=0.0)
    torch.testing.assert_close(fast.state_dict(), {**student.state_dict()})
