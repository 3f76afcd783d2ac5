"""The expert encoder: an exponential moving average of the student's backbone and CSM head."""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass

import torch
from torch import Tensor, nn

PARTS = ("backbone", "csm_head")


@dataclass
class _Pairs:
    """The teacher's and the student's state tensors in state-dict order, split by kind."""

    student: weakref.ref[nn.Module]
    floats: tuple[list[Tensor], list[Tensor]]  # (teacher, student): EMA
    others: list[tuple[Tensor, Tensor]]  # integer buffers: copied
    bias_caches: list[nn.Module]  # teacher modules with timm TinyViT's eval-mode bias cache


class ExpertEncoder(nn.Module):
    """Teacher = EMA copy of the student's `backbone` and `csm_head` (no gradients, eval mode).

    The update runs once per optimizer step (never per micro-batch) with a momentum the caller
    takes from `saip.train.schedules.ema_momentum` at the global step. The tensor lists it works
    on are gathered at the first update and kept: the parameters and buffers themselves, which
    in-place writes (`load_state_dict`, the optimizer, `distribute_bn`) keep valid. Moving the
    teacher drops them; the student must stay where it is once training has started.
    """

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(student.backbone)
        self.csm_head = copy.deepcopy(student.csm_head)
        self.requires_grad_(False)
        self.eval()
        self._pairs: _Pairs | None = None

    def train(self, mode: bool = True) -> ExpertEncoder:
        return super().train(False)  # always eval: no drop path, same maps as at export time

    def _apply(self, fn, recurse: bool = True):  # noqa: ANN001, ANN202 (torch's signature)
        self._pairs = None  # `.to()` may replace buffers
        return super()._apply(fn, recurse)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pairs": None}  # a copy gathers its own tensors

    def _gather(self, student: nn.Module) -> _Pairs:
        floats: tuple[list[Tensor], list[Tensor]] = ([], [])
        others: list[tuple[Tensor, Tensor]] = []
        for name in PARTS:
            if getattr(self, name) is None:
                continue
            mine = getattr(self, name).state_dict(keep_vars=True).values()
            theirs = getattr(student, name).state_dict(keep_vars=True).values()
            for t, s in zip(mine, theirs, strict=True):
                if t.is_floating_point():
                    floats[0].append(t)
                    floats[1].append(s)
                else:
                    others.append((t, s))
        caches = [m for m in self.modules() if hasattr(m, "attention_bias_cache")]
        return _Pairs(weakref.ref(student), floats, others, caches)

    def _pairs_for(self, student: nn.Module) -> _Pairs:
        if self._pairs is None or self._pairs.student() is not student:
            self._pairs = self._gather(student)
        return self._pairs

    @torch.no_grad()
    def update(self, student: nn.Module, momentum: float) -> None:
        """teacher = momentum * teacher + (1 - momentum) * student, parameters and float buffers."""
        pairs = self._pairs_for(student)
        if pairs.floats[0]:
            torch._foreach_lerp_(pairs.floats[0], pairs.floats[1], 1.0 - momentum)
        for t, s in pairs.others:
            t.copy_(s)
        # timm's TinyViT caches its gathered attention biases in eval mode, and the teacher is
        # never in training mode: without this the teacher would keep its first step's biases.
        for module in pairs.bias_caches:
            module.attention_bias_cache = {}
