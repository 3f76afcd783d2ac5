"""CSM, Cross-scale Matching: teacher targets, multi-view cross-entropy and attention-relation KL.

Written from docs/method.md (SAIP, arXiv 2503.08201, Sec. "Cross-scale Matching"), in the DINO
tradition (Caron et al., 2021); `CSMContrastiveLoss` is the small-compute alternative (MoCo-style
InfoNCE over the same cross-scale pairs). Teacher targets (`CSMCenter`, `teacher_probs`) stay apart from the
student losses (`CSMLoss`, `AttentionDistillLoss`), so temperatures are per-step arguments and the
centre update is guarded: it all-reduces only inside an initialised process group.
All math is float32, whatever dtype (bf16 under autocast) the logits arrive in.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

QKV = tuple[Tensor, Tensor, Tensor]


class CSMCenter(nn.Module):
    """Running mean of the teacher logits, subtracted before sharpening to avoid collapse.

    Args:
        out_dim: number of prototypes K.
        momentum: EMA momentum m of the centre (recipe 0.9): center = m * center + (1 - m) * mean.

    Attributes:
        center: buffer [1, K], zeros at start, float32.
    """

    center: Tensor

    def __init__(self, out_dim: int, momentum: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"centre momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    @torch.no_grad()
    def update(self, teacher_logits: Tensor) -> None:
        """Move the centre towards the batch mean of `teacher_logits` [N, K] (or [V, B, K]).

        The mean is over all ranks when a process group is initialised: sums and counts are
        all-reduced together, so ranks with unequal batches still give the global mean.
        """
        _check_k(teacher_logits, self.center.shape[-1], "teacher_logits")
        flat = teacher_logits.detach().float().reshape(-1, teacher_logits.shape[-1])
        stats = torch.cat([flat.sum(dim=0), flat.new_tensor([flat.shape[0]])])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(stats)
        mean = stats[:-1] / stats[-1]
        self.center.mul_(self.momentum).add_(mean.unsqueeze(0), alpha=1.0 - self.momentum)


def teacher_probs(teacher_logits: Tensor, center: Tensor, temp: float) -> Tensor:
    """Centred, sharpened teacher distribution softmax((t - center) / temp), float32.

    Args:
        teacher_logits: [Vt * B, K] or [Vt, B, K].
        center: [1, K] (`CSMCenter.center`).
        temp: teacher temperature (recipe 0.04; above 0.07 risks collapse early on).

    Returns:
        Probabilities, same shape as `teacher_logits`, rows summing to 1.
    """
    if temp <= 0:
        raise ValueError(f"teacher temperature must be > 0, got {temp}")
    if center.dim() != 2 or center.shape[0] != 1:
        raise ValueError(f"center must be [1, K], got {tuple(center.shape)}")
    _check_k(teacher_logits, center.shape[-1], "teacher_logits")
    return F.softmax((teacher_logits.float() - center.float()) / temp, dim=-1)


@torch.no_grad()
def sinkhorn_knopp(
    teacher_logits: Tensor, temp: float, iterations: int = 3, *, across_ranks: bool = True
) -> Tensor:
    """Teacher targets by Sinkhorn-Knopp (SwAV; DINOv2's `sinkhorn_knopp_teacher`), float32.

    Instead of subtracting a running centre, the assignments exp(t / temp) of the N samples (over
    all ranks) to the K prototypes are alternately rescaled so that every prototype receives the
    same total mass N / K and every sample sums to 1. Why: with small batches and a young network
    the centred targets stay near uniform or follow one dominant factor (on two-camera person
    sets: the camera); equipartition makes samples of one batch disagree from the first step.

    Args:
        teacher_logits: [N, K] (the Vt * B teacher views of this rank, together).
        temp: teacher temperature.
        iterations: rescaling rounds (DINOv2: 3).
        across_ranks: normalise over every rank's samples (training); False for a forward that
            one rank runs alone (pictures), where a collective would wait for the others forever.

    Returns:
        [N, K] probabilities, rows summing to 1.
    """
    if temp <= 0:
        raise ValueError(f"teacher temperature must be > 0, got {temp}")
    if teacher_logits.dim() != 2:
        raise ValueError(f"teacher_logits must be [N, K], got {tuple(teacher_logits.shape)}")
    # In log space: exp(t / temp) at a low temperature spans more than float32 holds, so samples
    # whose best prototype is far below the batch's best would underflow to all zeros (0 / 0).
    log_q = (teacher_logits.float() / temp).t()  # [K, N]
    distributed = across_ranks and dist.is_available() and dist.is_initialized()
    count = torch.tensor(float(log_q.shape[1]), device=log_q.device)
    if distributed:
        dist.all_reduce(count)
    log_q = log_q - _logsumexp_over_samples(log_q, distributed).logsumexp(dim=0)
    log_k, log_count = math.log(log_q.shape[0]), torch.log(count)
    for _ in range(iterations):
        log_q = log_q - (_logsumexp_over_samples(log_q, distributed) + log_k)
        log_q = log_q - (log_q.logsumexp(dim=0, keepdim=True) + log_count)
    return (log_q + log_count).exp().t()


def _logsumexp_over_samples(log_q: Tensor, distributed: bool) -> Tensor:
    """[K, 1] log of each prototype's total mass over the samples of every rank."""
    if not distributed:
        return log_q.logsumexp(dim=1, keepdim=True)
    peak = log_q.amax(dim=1, keepdim=True)
    dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    mass = (log_q - peak).exp().sum(dim=1, keepdim=True)
    dist.all_reduce(mass)
    return peak + mass.log()


def koleo_loss(features: Tensor, eps: float = 1e-8) -> Tensor:
    """Kozachenko-Leonenko regulariser (DINOv2's KoLeo; Sablayrolles et al. 2019), float32:
    -mean log(distance of each L2-normalised feature to its nearest neighbour in the batch).

    Why: it spreads the batch's features over the sphere, the opposite of the collapse towards
    one embedding that short, small-batch runs drift into.

    Args:
        features: [B, D] (B >= 2), e.g. one global view's class tokens.
    """
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"KoLeo needs features [B >= 2, D], got {tuple(features.shape)}")
    x = F.normalize(features.float(), dim=-1, eps=eps)
    with torch.no_grad():
        sims = x @ x.t()
        sims.fill_diagonal_(-2.0)
        nearest = sims.argmax(dim=1)
    return -torch.log(F.pairwise_distance(x, x[nearest], eps=eps) + eps).mean()


class CSMLoss(nn.Module):
    """Cross-entropy between every teacher view and every *other* student view, averaged over pairs.

    The Vt teacher views are the global views, and they come first among the Vs student views in
    the same order, so the pair (t, s = t) is the same image and is skipped: with the recipe's
    Vt = 2 and Vs = 10 that leaves 2 * 10 - 2 = 18 pairs. Each pair's cross-entropy
    sum_k -p_t[k] log softmax(s / temp)[k] is averaged over the batch.

    Example:
        >>> loss = CSMLoss()(student_logits, teacher_probs_list, student_temp=0.1)
    """

    def forward(
        self, student_logits: list[Tensor], teacher_probs: list[Tensor], student_temp: float
    ) -> Tensor:
        """Args:
            student_logits: Vs tensors [B, K], the Vt global views first.
            teacher_probs: Vt tensors [B, K] from `teacher_probs` (treated as constants).
            student_temp: student temperature (recipe 0.1).

        Returns:
            Scalar loss (float32).
        """
        if not student_logits or not teacher_probs:
            raise ValueError("CSMLoss needs non-empty lists of student logits and teacher probs")
        if len(teacher_probs) > len(student_logits):
            raise ValueError(
                f"teacher views ({len(teacher_probs)}) must be among the student views ({len(student_logits)})"
            )
        if len(student_logits) == 1:
            raise ValueError("CSMLoss with one view has no pair of different views")
        if student_temp <= 0:
            raise ValueError(f"student temperature must be > 0, got {student_temp}")
        shape = student_logits[0].shape
        for name, views in (("student_logits", student_logits), ("teacher_probs", teacher_probs)):
            bad = [tuple(v.shape) for v in views if v.shape != shape or v.dim() != 2]
            if bad:
                raise ValueError(f"all {name} must be [B, K] = {tuple(shape)}, got {bad}")
        # Letters: t teacher view, s student view, b sample, k prototype.
        log_q = F.log_softmax(torch.stack(student_logits).float() / student_temp, dim=-1)  # [Vs, B, K]
        p = torch.stack(teacher_probs).float().detach()  # [Vt, B, K]
        return _mean_over_other_pairs(-torch.einsum("tbk,sbk->ts", p, log_q) / shape[0])


class CSMContrastiveLoss(nn.Module):
    """InfoNCE between every teacher view and every *other* student view, averaged over pairs.

    Pairs are those of `CSMLoss` (teacher global views first among the student views; (t, t)
    skipped). For a pair (t, s), sample b's student embedding must pick its own teacher
    embedding among the B of view t: cross-entropy over softmax(s_b . t_j / temp), j = 1..B. The
    other B - 1 samples of this rank are the negatives: no queue and no gathering across ranks, so
    the per-rank batch, not the world size, sets how hard the task is (and N ranks do not compute
    what one process with N times the batch would).

    Example:
        >>> loss = CSMContrastiveLoss()(student_embeddings, teacher_embeddings, temp=0.2)
    """

    def forward(self, student: list[Tensor], teacher: list[Tensor], temp: float) -> Tensor:
        """Args:
            student: Vs unit embeddings [B, d], the Vt global views first.
            teacher: Vt unit embeddings [B, d] (treated as constants).
            temp: softmax temperature (MoCo v3: 0.2).

        Returns:
            Scalar loss (float32).
        """
        if temp <= 0:
            raise ValueError(f"contrastive temperature must be > 0, got {temp}")
        if not teacher or len(student) < 2 or len(teacher) > len(student):
            raise ValueError(
                f"need 1..Vs teacher views and Vs >= 2 student views, got {len(teacher)} and {len(student)}"
            )
        shape = student[0].shape
        if shape[0] < 2 or any(v.shape != shape or v.dim() != 2 for v in [*student, *teacher]):
            raise ValueError(
                f"all embeddings must be [B >= 2, d] = {tuple(shape)}, got "
                f"{[tuple(v.shape) for v in [*student, *teacher]]}"
            )
        s = torch.stack(student).float()  # [Vs, B, d]
        t = torch.stack(teacher).float().detach()  # [Vt, B, d]
        logits = torch.einsum("sbd,tjd->tsbj", s, t) / temp  # [Vt, Vs, B, B]
        vt, vs, b = logits.shape[0], logits.shape[1], shape[0]
        target = torch.arange(b, device=logits.device).repeat(vt * vs)
        ce = F.cross_entropy(logits.reshape(-1, b), target, reduction="none").view(vt, vs, b).mean(-1)
        return _mean_over_other_pairs(ce)


def _mean_over_other_pairs(ce: Tensor) -> Tensor:
    """Mean of a [Vt, Vs] per-pair loss over the pairs of different views: teacher view t is
    student view t, so the diagonal is skipped (no boolean indexing: no device sync)."""
    vt, vs = ce.shape
    same = torch.eye(vt, vs, dtype=torch.bool, device=ce.device)
    return ce.masked_fill(same, 0.0).sum() / (vt * vs - min(vt, vs))


def relation_maps(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Pre-softmax attention and value-relation scores of one block, float32.

    Args:
        q, k, v: per-head queries, keys and values [B, H, N, d].

    Returns:
        (q k^T / sqrt(d), v v^T / sqrt(d)), each [B, H, N, N].
    """
    if q.dim() != 4 or q.shape != k.shape or q.shape != v.shape:
        raise ValueError(
            f"q, k, v must share one [B, H, N, d] shape, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    scale = q.shape[-1] ** -0.5
    q, k, v = q.float(), k.float(), v.float()
    return q @ k.transpose(-2, -1) * scale, v @ v.transpose(-2, -1) * scale


def relation_kl(teacher_scores: Tensor, student_scores: Tensor) -> Tensor:
    """KL(softmax(teacher) || softmax(student)) over the last dim, mean over all other dims, float32.

    Args:
        teacher_scores, student_scores: pre-softmax maps [B, H, N, N] (any shape, equal).
    """
    if teacher_scores.shape != student_scores.shape:
        raise ValueError(
            f"score maps differ in shape: teacher {tuple(teacher_scores.shape)}, "
            f"student {tuple(student_scores.shape)}"
        )
    log_p = F.log_softmax(teacher_scores.float(), dim=-1)
    log_q = F.log_softmax(student_scores.float(), dim=-1)
    return F.kl_div(log_q, log_p, reduction="none", log_target=True).sum(dim=-1).mean()


class AttentionDistillLoss(nn.Module):
    """Last-block attention and value-relation KL between teacher and student on the same views.

    For each view (recipe: the two global views) the KL of the attention maps softmax(q k^T / sqrt(d))
    and the KL of the value-relation maps softmax(v v^T / sqrt(d)) are summed; the result is the
    mean over views. Teacher maps are targets (detached).
    """

    def forward(self, teacher_qkv: list[QKV], student_qkv: list[QKV]) -> Tensor:
        """Args:
            teacher_qkv, student_qkv: one (q, k, v) triple [B, H, N, d] per view, same order.

        Returns:
            Scalar loss (float32).
        """
        if not teacher_qkv or len(teacher_qkv) != len(student_qkv):
            raise ValueError(
                f"need the same non-zero number of teacher and student views, "
                f"got {len(teacher_qkv)} and {len(student_qkv)}"
            )
        per_view = []
        for t, s in zip(teacher_qkv, student_qkv, strict=True):
            t_attn, t_val = relation_maps(*t)
            s_attn, s_val = relation_maps(*s)
            per_view.append(relation_kl(t_attn.detach(), s_attn) + relation_kl(t_val.detach(), s_val))
        return torch.stack(per_view).mean()


def _check_k(logits: Tensor, k: int, name: str) -> None:
    if logits.dim() not in (2, 3) or logits.shape[-1] != k:
        raise ValueError(f"{name} must be [N, K] or [V, B, K] with K = {k}, got {tuple(logits.shape)}")
