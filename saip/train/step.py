"""One SAIP optimizer step, read top to bottom in the method's order (method.md, "One training step").

1. schedules at the global optimizer step (lr, teacher momentum) are applied by the caller;
2. per micro-batch: batch-level randomness (cross-scale factors, CSR mask) from a generator seeded
   by (seed, step, rank x accumulation + micro-batch), teacher forward under no_grad, student
   forward over views grouped by (H, W), named losses, weighted sum, scaled backward;
3. on the last micro-batch only: BatchNorm running statistics averaged over ranks, a non-finite
   check across ranks, clipping, the optimizer step, then the CSM centre update (mean of the
   micro-batches' teacher logit means) and the EMA update of the expert encoder, once per
   optimizer step and only when the optimizer really stepped: a skipped step (non-finite loss, or
   the fp16 grad scaler found inf gradients) changes nothing.

Device-to-host syncs: one per optimizer step, the all-rank finite flag that decides whether to
step (two more with the fp16 grad scaler, which reports a skipped step through its scale). Loss
terms, the gradient norm and the monitors stay 0-dim device tensors in `StepResult`, read by the
loop once per logged step; the CSR mask and its visible indices are built on the host.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from timm.utils import distribute_bn
from torch import Tensor, nn

from saip.config import PretrainConfig
from saip.data.masking import random_grid_mask, resize_grid_mask, visible_indices
from saip.data.views import half_view, normalize_views
from saip.models.backbone import QKV, split_qkv
from saip.models.saip import SAIPStudent, StudentInputs, StudentOutputs
from saip.models.teacher import ExpertEncoder
from saip.objectives.csm import (
    AttentionDistillLoss,
    CSMCenter,
    CSMContrastiveLoss,
    CSMLoss,
    koleo_loss,
    sinkhorn_knopp,
    teacher_probs,
)
from saip.objectives.csr import CSRLoss
from saip.objectives.css import CSSLoss

LOSS_KEYS = ("loss_csm", "loss_attn", "loss_koleo", "loss_csr", "loss_css_inst", "loss_css_roi")


@dataclass
class TeacherOutputs:
    probs: list[Tensor] = field(default_factory=list)  # per global view [B, K]
    logits: Tensor | None = None  # [2B, K]
    embeddings: list[Tensor] = field(default_factory=list)  # per global view [B, d] (contrastive)
    qkv: list[QKV] = field(default_factory=list)  # per global view
    scene_tokens: Tensor | None = None  # [B, Ns, Dm]


@dataclass
class MicroBatch:
    """What one micro-batch produced; kept for pictures and monitors."""

    batch: dict[str, Tensor]
    inputs: StudentInputs
    teacher: TeacherOutputs
    outputs: StudentOutputs
    csr_mask: Tensor | None  # [B, Nc] True = masked


@dataclass
class StepContext:
    cfg: PretrainConfig
    student: nn.Module  # SAIPStudent, possibly wrapped in DistributedDataParallel
    teacher: ExpertEncoder
    center: CSMCenter
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None  # None: full fp32
    csm_loss: CSMLoss = field(default_factory=CSMLoss)
    csm_contrastive_loss: CSMContrastiveLoss = field(default_factory=CSMContrastiveLoss)
    attn_loss: AttentionDistillLoss = field(default_factory=AttentionDistillLoss)
    csr_loss: CSRLoss = field(default_factory=CSRLoss)
    css_loss: CSSLoss = field(default_factory=CSSLoss)

    @property
    def module(self) -> SAIPStudent:
        return getattr(self.student, "module", self.student)


@dataclass
class StepResult:
    """0-dim device tensors where a float would cost a sync; `finite` is the one value read."""

    terms: dict[str, Tensor]  # each loss term, averaged over micro-batches
    loss: Tensor
    finite: bool
    grad_norm: Tensor  # NaN when the step was skipped
    images: int
    skipped_images: int
    monitors: dict[str, Tensor]
    last: MicroBatch | None


def round_to_patch(size: float, patch: int) -> int:
    """Nearest multiple of the patch size, ties rounded up (112 -> 112, 72 -> 80 for p=16)."""
    return max(patch, int(math.floor(size / patch + 0.5)) * patch)


def rescale(x: Tensor, factor: float, patch: int) -> Tensor:
    """Resize a batch by `factor`, sides rounded to the patch grid (never dropped in the conv)."""
    h, w = x.shape[-2:]
    size = (round_to_patch(h * factor, patch), round_to_patch(w * factor, patch))
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=factor < 1)


def step_generator(seed: int, step: int, micro: int) -> torch.Generator:
    """Batch-level randomness as a pure function of (seed, step, micro-batch): exact on resume."""
    state = np.random.SeedSequence([seed, step, micro]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


@torch.no_grad()
def teacher_forward(
    ctx: StepContext, inputs: StudentInputs, scene: Tensor | None, step_temp: float, across_ranks: bool = True
) -> TeacherOutputs:
    cfg, teacher = ctx.cfg, ctx.teacher
    b = inputs.roi.shape[0]
    out = TeacherOutputs()
    if cfg.csm.enabled:
        taps = teacher.backbone.forward_taps(inputs.globals_, mid=False, qkv=cfg.csm.attn_weight > 0)
        head_out = teacher.csm_head(taps.cls)
        if cfg.csm.criterion == "contrastive":
            out.embeddings = list(head_out.split(b))
        else:
            out.logits = head_out
            probs = (
                sinkhorn_knopp(out.logits, step_temp, across_ranks=across_ranks)
                if cfg.csm.teacher_norm == "sinkhorn"
                else teacher_probs(out.logits, ctx.center.center, step_temp)
            )
            out.probs = list(probs.split(b))
        if taps.qkv is not None:
            out.qkv = split_qkv(taps.qkv, b)
    if cfg.css.enabled and scene is not None:
        out.scene_tokens = teacher.backbone.forward_mid(scene).mid
    return out


def make_inputs(
    ctx: StepContext, batch: dict[str, Tensor], gen: torch.Generator
) -> tuple[StudentInputs, Tensor | None, Tensor | None]:
    """Move a loader batch (uint8 views) to the device, normalise it there and build the student's
    views, the half-size one from global view 1.

    Returns the inputs, the scene [B, 3, Hs, Ws] (None without CSS) and the CSR mask [B, Nc]
    (True = masked; None without CSR)."""
    cfg, patch = ctx.cfg, ctx.module.backbone.patch_size
    dev = ctx.device
    raw_glob = batch["global"].to(dev, non_blocking=True)  # uint8 [B, 2, 3, H, W]
    glob = normalize_views(raw_glob)
    local = normalize_views(batch["local"].to(dev, non_blocking=True))  # [B, L, 3, h, w]
    b = glob.shape[0]
    factors = cfg.views.rescale_factors
    pick = torch.randint(len(factors), (2,), generator=gen).tolist()  # one factor per view per batch
    inputs = StudentInputs(
        globals_=glob.transpose(0, 1).flatten(0, 1),
        locals_=local[:, :-1].transpose(0, 1).flatten(0, 1) if local.shape[1] > 1 else None,
        roi=rescale(local[:, -1], factors[pick[0]], patch),
        half=rescale(normalize_views(half_view(raw_glob[:, 0])), factors[pick[1]], patch),
    )
    mask = None
    if cfg.csr.enabled:
        g2 = glob[:, 1]
        inputs.csr_image = rescale(g2, cfg.csr.scale, patch)
        anchor = (g2.shape[-2] // patch, g2.shape[-1] // patch)
        grid = (inputs.csr_image.shape[-2] // patch, inputs.csr_image.shape[-1] // patch)
        coarse = random_grid_mask(b, anchor, cfg.csr.mask_ratio, generator=gen)
        visible = round(grid[0] * grid[1] * (1 - cfg.csr.mask_ratio))
        host_mask = resize_grid_mask(coarse, anchor, grid, visible, generator=gen)
        inputs.csr_visible = visible_indices(host_mask).to(dev)  # on the host: no sync
        mask = host_mask.to(dev)
    scene = normalize_views(batch["scene"].to(dev, non_blocking=True)) if cfg.css.enabled else None
    if scene is not None:
        inputs.scene_grid = (scene.shape[-2] // patch, scene.shape[-1] // patch)
    return inputs, scene, mask


def compute_losses(ctx: StepContext, mb: MicroBatch) -> dict[str, Tensor]:
    """The five named loss terms of method.md (disabled objectives contribute nothing)."""
    cfg, out, t = ctx.cfg, mb.outputs, mb.teacher
    terms: dict[str, Tensor] = {}
    if cfg.csm.enabled:
        terms["loss_csm"] = (
            ctx.csm_contrastive_loss(out.logits, t.embeddings, cfg.csm.contrastive_temp)
            if cfg.csm.criterion == "contrastive"
            else ctx.csm_loss(out.logits, t.probs, cfg.csm.student_temp)
        )
        if out.qkv:
            terms["loss_attn"] = ctx.attn_loss(t.qkv, out.qkv)
        if cfg.csm.koleo_weight > 0:
            b = mb.inputs.roi.shape[0]
            terms["loss_koleo"] = torch.stack([koleo_loss(v) for v in out.cls_features.split(b)]).mean()
    if cfg.csr.enabled:
        terms["loss_csr"] = ctx.csr_loss(out.csr_pred, mb.inputs.csr_image, mb.csr_mask)
    if cfg.css.enabled:
        dev = ctx.device
        terms["loss_css_inst"] = ctx.css_loss(out.css_inst, mb.batch["inst_target"].to(dev))
        terms["loss_css_roi"] = ctx.css_loss(out.css_roi, mb.batch["roi_target"].to(dev))
    return terms


def loss_weights(cfg: PretrainConfig) -> dict[str, float]:
    return {
        "loss_csm": cfg.csm.weight,
        "loss_attn": cfg.csm.weight * cfg.csm.attn_weight,
        "loss_koleo": cfg.csm.koleo_weight,
        "loss_csr": cfg.csr.weight,
        "loss_css_inst": cfg.css.inst_weight,
        "loss_css_roi": cfg.css.roi_weight,
    }


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _rank() -> int:
    return dist.get_rank() if _distributed() else 0


def _all_finite(finite: Tensor) -> bool:
    """Whether every rank's losses were finite: the step's one device-to-host read."""
    flag = (~finite).float().reshape(1)
    if _distributed():
        dist.all_reduce(flag)
    return flag.item() == 0.0


def _optimizer_step(ctx: StepContext) -> bool:
    """Step through the grad scaler; False when it skipped the step (fp16: inf/NaN gradients),
    which it signals only by lowering its scale."""
    scale = ctx.scaler.get_scale()
    ctx.scaler.step(ctx.optimizer)
    ctx.scaler.update()
    return ctx.scaler.get_scale() >= scale


def _entropy(p: Tensor) -> Tensor:
    return -(p * torch.log(p.clamp_min(1e-12))).sum(-1)


def _monitors(ctx: StepContext, last: MicroBatch) -> dict[str, Tensor]:
    """Collapse monitors: teacher output entropy (-> 0 on collapse to one prototype, ln K if
    uniform), the prototypes in use (perplexity exp(H) of the batch-mean teacher distribution,
    1..K: -> 1 on collapse) and the std of the student's normalised features over the batch
    (-> 0 on collapse)."""
    mon: dict[str, Tensor] = {}
    if last.teacher.probs:
        p = torch.cat(last.teacher.probs)
        mon["teacher_entropy"] = _entropy(p).mean()
        mon["teacher_perplexity"] = _entropy(p.mean(0)).exp()
    if last.outputs.cls_features is not None:
        feats = F.normalize(last.outputs.cls_features.detach().float(), dim=-1)
        mon["student_feature_std"] = feats.std(0).mean() if feats.shape[0] > 1 else feats.new_zeros(())
    return mon


def _autocast(ctx: StepContext) -> contextlib.AbstractContextManager[Any]:
    if ctx.amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(ctx.device.type, dtype=ctx.amp_dtype)


@torch.no_grad()
def picture_forward(ctx: StepContext, batch: dict[str, Tensor]) -> MicroBatch:
    """Teacher and student outputs on a fixed batch, in eval mode with fixed batch-level draws
    (CSR mask, cross-scale factors), so that pictures show the same samples at every step."""
    module = ctx.module
    was_training = module.training
    module.eval()
    try:
        with _autocast(ctx):
            inputs, scene, mask = make_inputs(ctx, batch, step_generator(ctx.cfg.train.seed, 0, 0))
            # Rank 0 alone draws pictures: no collective (Sinkhorn's all-reduce would wait forever).
            teacher = teacher_forward(ctx, inputs, scene, ctx.cfg.csm.teacher_temp, across_ranks=False)
            inputs.scene_tokens = teacher.scene_tokens
            outputs = module(inputs)
    finally:
        module.train(was_training)
    return MicroBatch(batch, inputs, teacher, outputs, mask)


def train_step(
    ctx: StepContext,
    micro_batches: list[dict[str, Tensor]],
    step: int,
    *,
    momentum: float,
    seed: int,
    teacher_temp: float | None = None,
) -> StepResult:
    """Accumulate gradients over `micro_batches`, then one optimizer step, one centre update and
    one EMA update (none of the three when the step is skipped).

    `teacher_temp` is the step's teacher temperature (None: `csm.teacher_temp`)."""
    cfg, n = ctx.cfg, len(micro_batches)
    weights = loss_weights(cfg)
    sums: dict[str, Tensor] = {}
    total_sum = torch.zeros((), device=ctx.device)
    finite = torch.ones((), dtype=torch.bool, device=ctx.device)
    images, skipped = 0, 0
    last: MicroBatch | None = None
    logit_means: list[Tensor] = []
    ctx.optimizer.zero_grad(set_to_none=True)
    bn_buffers = batchnorm_buffers(ctx.module)
    bn_before = [b.clone() for b in bn_buffers]
    for micro, batch in enumerate(micro_batches):
        skipped += int(batch["num_skipped"])
        images += int(batch["global"].shape[0])
        is_last = micro == n - 1
        sync = (
            contextlib.nullcontext()
            if is_last or not hasattr(ctx.student, "no_sync")
            else ctx.student.no_sync()
        )
        # Ranks draw disjoint streams: rank r's micro-batch m is micro-batch r * accum + m of one
        # process that accumulates the ranks' shards (the same masks and factors).
        gen = step_generator(seed, step, _rank() * n + micro)
        with sync:
            with _autocast(ctx):
                inputs, scene, mask = make_inputs(ctx, batch, gen)
                teacher = teacher_forward(ctx, inputs, scene, teacher_temp or cfg.csm.teacher_temp)
                if teacher.scene_tokens is not None:
                    inputs.scene_tokens = teacher.scene_tokens
                outputs = ctx.student(inputs)
            mb = MicroBatch(batch, inputs, teacher, outputs, mask)
            terms = compute_losses(ctx, mb)
            total = sum(weights[k] * v for k, v in terms.items())
            finite = finite & torch.isfinite(total.detach())
            ctx.scaler.scale(total / n).backward()
        if teacher.logits is not None:
            logit_means.append(teacher.logits.detach().float().mean(0))
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v.detach().float() / n
        total_sum = total_sum + total.detach().float() / n
        last = mb
    if _distributed():  # ranks EMA, checkpoint and evaluate the same statistics (docs/backbones.md)
        distribute_bn(ctx.module, dist.get_world_size(), reduce=True)
    stepped, updated = _all_finite(finite), False
    grad_norm = torch.full((), float("nan"), device=ctx.device)
    if stepped:
        ctx.scaler.unscale_(ctx.optimizer)
        params = [p for p in ctx.module.parameters() if p.grad is not None]
        max_norm = cfg.optim.clip_grad if cfg.optim.clip_grad > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        updated = _optimizer_step(ctx)
        if updated:
            if logit_means:
                ctx.center.update(torch.stack(logit_means))
            ctx.teacher.update(ctx.module, momentum)
    if not updated:  # the forwards' BatchNorm statistics go with the skipped step
        for buffer, old in zip(bn_buffers, bn_before, strict=True):
            buffer.copy_(old)
    ctx.optimizer.zero_grad(set_to_none=True)
    return StepResult(
        terms=sums,
        loss=total_sum,
        finite=stepped,
        grad_norm=grad_norm,
        images=images,
        skipped_images=skipped,
        monitors=_monitors(ctx, last) if last else {},
        last=last,
    )


def batchnorm_buffers(module: nn.Module) -> list[Tensor]:
    """Running statistics that train-mode forwards update (TinyViT's BatchNorm; none in ViT and
    ConvNeXt): a skipped step puts them back, so it changes nothing."""
    return [
        b
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for b in m.buffers(recurse=False)
    ]


def step_state(ctx: StepContext) -> dict[str, Any]:
    """Everything the step mutates, for checkpoints."""
    return {
        "student": ctx.module.state_dict(),
        "teacher": ctx.teacher.state_dict(),
        "center": ctx.center.state_dict(),
        "optimizer": ctx.optimizer.state_dict(),
        "scaler": ctx.scaler.state_dict(),
    }


def load_step_state(ctx: StepContext, state: dict[str, Any]) -> None:
    ctx.module.load_state_dict(state["student"])
    ctx.teacher.load_state_dict(state["teacher"])
    ctx.center.load_state_dict(state["center"])
    ctx.optimizer.load_state_dict(state["optimizer"])
    ctx.scaler.load_state_dict(state["scaler"])
