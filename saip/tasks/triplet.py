"""Batch-hard triplet loss (Hermans, Beyer, Leibe 2017, "In Defense of the Triplet Loss").

Why batch-hard: with P x K batches every anchor has K - 1 positives and (P - 1) K negatives; taking
the farthest positive and the nearest negative trains on the informative triplets only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def euclidean_distance(x: Tensor) -> Tensor:
    """[B, B] Euclidean distances of [B, D] rows; clamped before the root so gradients stay finite."""
    sq = x.pow(2).sum(1)
    return (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp(min=1e-12).sqrt()


class TripletLoss(nn.Module):
    """mean over anchors of max(0, d(a, hardest positive) - d(a, hardest negative) + margin);
    margin <= 0 selects the soft margin log(1 + exp(d_ap - d_an))."""

    def __init__(self, margin: float = 0.3) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, feats: Tensor, labels: Tensor) -> Tensor:
        """feats [B, D], labels [B] -> scalar."""
        if feats.ndim != 2 or labels.shape != feats.shape[:1]:
            raise ValueError(
                f"expected feats [B, D] and labels [B], got {tuple(feats.shape)}, {tuple(labels.shape)}"
            )
        dist = euclidean_distance(feats.float())
        same = labels[:, None] == labels[None, :]
        if same.all():
            raise ValueError("a triplet batch needs at least two identities")
        hardest_pos = dist.masked_fill(~same, 0.0).amax(1)
        hardest_neg = dist.masked_fill(same, torch.inf).amin(1)
        gap = hardest_pos - hardest_neg
        if self.margin > 0:
            return F.relu(gap + self.margin).mean()
        return F.softplus(gap).mean()
