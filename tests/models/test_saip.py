"""The student batches same-size views into one backbone pass: the same outputs and gradients as
one pass per view."""

from __future__ import annotations

import torch
from torch import Tensor

from saip.config import PretrainConfig, load_config
from saip.models.saip import SAIPStudent, StudentInputs, StudentOutputs


def _per_view_reference(student: SAIPStudent, x: StudentInputs) -> StudentOutputs:
    bb, b = student.backbone, x.roi.shape[0]
    g = bb.forward_taps(x.globals_, mid=True, qkv=True)
    roi = bb.forward_taps(x.roi, mid=True)
    views = [
        g.cls,
        bb.forward_taps(x.locals_, mid=False).cls,
        roi.cls,
        bb.forward_taps(x.half, mid=False).cls,
    ]
    queries = [torch.cat([t.mid_cls[:b, None], t.mid[:b]], dim=1) for t in (g, roi)]
    inst, roi_logits = student.css_decoder.search(queries, x.scene_tokens, x.scene_grid)
    return StudentOutputs(
        logits=list(student.csm_head(torch.cat(views)).split(b)), css_inst=inst, css_roi=roi_logits
    )


def _flat(student: SAIPStudent, out: StudentOutputs) -> list[Tensor]:
    student.zero_grad()
    tensors = [torch.cat(out.logits), out.css_inst, out.css_roi]
    sum((t * torch.linspace(-1, 1, t.numel()).view_as(t)).sum() for t in tensors).backward()
    return [t.detach() for t in tensors] + [p.grad for p in student.parameters() if p.grad is not None]


def test_same_size_roi_and_half_views_share_a_pass(tiny_overrides: list[str]) -> None:
    cfg = load_config(PretrainConfig, None, [*tiny_overrides, "csr.enabled=false", "csm.attn_weight=0"])
    torch.manual_seed(0)
    student, b = SAIPStudent(cfg), 2
    passes: list[int] = []
    student.backbone.model.patch_embed.register_forward_hook(lambda m, i, o: passes.append(i[0].shape[0]))
    x = StudentInputs(
        globals_=torch.randn(2 * b, 3, 64, 32),
        locals_=torch.randn(2 * b, 3, 32, 16),
        roi=torch.randn(b, 3, 48, 32),
        half=torch.randn(b, 3, 48, 32),  # the same size as roi: one pass for both
        scene_tokens=torch.randn(b, 16, 48),
        scene_grid=(4, 4),
    )
    fast = _flat(student, student(x))
    assert passes == [2 * b, 2 * b, 2 * b]
    ref = _flat(student, _per_view_reference(student, x))
    assert len(fast) == len(ref)
    for a, r in zip(fast, ref, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-6)
