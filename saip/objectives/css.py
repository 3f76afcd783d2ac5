"""CSS, Cross-scale Search: per-cell binary cross-entropy of the predicted person mask in the scene.

Written from docs/method.md: the CSS decoder predicts mask logits on the scene's patch grid
(recipe 14x14) for where the query person was pasted; the target marks cells at least half covered
by that paste (built by the scene synthesis, not here).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from saip.debug import value_checks


class CSSLoss(nn.Module):
    """Binary cross-entropy with logits, mean over scene cells and batch, float32."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Args:
            logits: mask logits [B, Hs, Ws].
            target: [B, Hs, Ws] float in {0, 1} (soft values in [0, 1] also accepted).

        Returns:
            Scalar loss (float32).
        """
        if logits.dim() != 3 or logits.shape != target.shape:
            raise ValueError(
                f"logits and target must both be [B, Hs, Ws], got {tuple(logits.shape)} and {tuple(target.shape)}"
            )
        target = target.float()
        if value_checks(target) and bool(((target < 0) | (target > 1)).any()):
            raise ValueError("target values must lie in [0, 1]")
        return F.binary_cross_entropy_with_logits(logits.float(), target)
