"""The expert encoder: an exponential moving average of the student's backbone and CSM head."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ExpertEncoder(nn.Module):
    """Teacher = EMA copy of the student's `backbone` and `csm_head` (no gradients, eval mode).

    The update runs once per optimizer step (never per micro-batch) with a momentum the caller
    takes from `saip.train.schedules.ema_momentum` at the global step.
    """

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(student.backbone)
        self.csm_head = copy.deepcopy(student.csm_head)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> ExpertEncoder:
        return super().train(False)  # always eval: no drop path, same maps as at export time

    @torch.no_grad()
    def update(self, student: nn.Module, momentum: float) -> None:
        """teacher = momentum * teacher + (1 - momentum) * student, parameters and float buffers."""
        pairs = [
            (t, s)
            for name in ("backbone", "csm_head")
            if getattr(self, name) is not None
            for t, s in zip(
                getattr(self, name).state_dict().values(),
                getattr(student, name).state_dict().values(),
                strict=True,
            )
        ]
        floats = [(t, s) for t, s in pairs if t.is_floating_point()]
        if floats:
            torch._foreach_lerp_([t for t, _ in floats], [s.detach() for _, s in floats], 1.0 - momentum)
        for t, s in pairs:
            if not t.is_floating_point():
                t.copy_(s)
        # timm's TinyViT caches its gathered attention biases in eval mode, and the teacher is
        # never in training mode: without this the teacher would keep its first step's biases.
        self.train(False)
