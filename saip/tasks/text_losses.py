"""Image-text losses of text-to-person retrieval: SDM, the shared-classifier ID loss and ITC.

SDM (similarity-distribution matching, IRRA: Jiang & Ye, CVPR 2023): for each image, the softmax of
`logit_scale` x cosine similarity over the batch's captions should match the distribution that
spreads its mass evenly over the captions of the same person; the loss is KL(predicted || true),
image-to-text plus text-to-image. Unlike ITC it counts every same-person pair in the batch as a
positive. IRRA's logit scale is fixed at 1 / 0.02 = 50 (`text.logit_scale`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check(image: Tensor, text: Tensor, pids: Tensor | None = None) -> None:
    if image.ndim != 2 or image.shape != text.shape or (pids is not None and pids.shape != image.shape[:1]):
        raise ValueError(
            f"expected image and text embeddings [B, E] and pids [B], got {tuple(image.shape)}, "
            f"{tuple(text.shape)}" + (f", {tuple(pids.shape)}" if pids is not None else "")
        )


def _cosine(image: Tensor, text: Tensor) -> Tensor:
    """[B, B] cosine similarity, image rows against text columns (fp32)."""
    return F.normalize(image.float(), dim=1) @ F.normalize(text.float(), dim=1).T


def sdm_loss(image: Tensor, text: Tensor, pids: Tensor, logit_scale: float, eps: float = 1e-8) -> Tensor:
    """image, text [B, E], pids [B] -> scalar: mean over rows of KL(softmax(s cos) || same-person
    distribution), summed over both directions; `eps` keeps log(0) finite for other persons."""
    _check(image, text, pids)
    logits = logit_scale * _cosine(image, text)
    same = (pids[:, None] == pids[None, :]).float()
    target_log = torch.log(same / same.sum(1, keepdim=True) + eps)  # symmetric: same for both directions
    total = logits.new_zeros(())
    for rows in (logits, logits.T):
        log_p = F.log_softmax(rows, dim=1)
        total = total + (log_p.exp() * (log_p - target_log)).sum(1).mean()
    return total


def itc_loss(image: Tensor, text: Tensor, logit_scale: float) -> Tensor:
    """CLIP's contrastive loss: each image's own caption (the diagonal) against the batch's others."""
    _check(image, text)
    logits = logit_scale * _cosine(image, text)
    target = torch.arange(len(logits), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def shared_id_loss(classifier: nn.Module, image: Tensor, text: Tensor, pids: Tensor) -> Tensor:
    """Mean of the identity cross-entropies of the image and the text embeddings, one classifier."""
    _check(image, text, pids)
    return (
        F.cross_entropy(classifier(image.float()), pids) + F.cross_entropy(classifier(text.float()), pids)
    ) / 2
