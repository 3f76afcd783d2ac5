"""CSR, Cross-scale Reconstruction: pixel targets and the masked-patch MSE.

Written from docs/method.md (MAE-style, He et al., 2022). Works on any (H, W) whose sides are
multiples of the patch size, never assuming a square image. A patch vector is laid out
(row in patch, column in patch, channel), as in MAE, so predictions are comparable across codebases.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saip.debug import value_checks


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Images [B, C, H, W] -> patches [B, (H/p) * (W/p), p * p * C], row-major over the (H/p, W/p) grid."""
    if images.dim() != 4:
        raise ValueError(f"images must be [B, C, H, W], got {tuple(images.shape)}")
    b, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(f"image size ({h}, {w}) is not a multiple of the patch size {p}")
    x = images.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: Tensor, grid: tuple[int, int], patch_size: int, channels: int) -> Tensor:
    """Patches [B, Hp * Wp, p * p * C] on grid (Hp, Wp) -> images [B, C, Hp * p, Wp * p] (for pictures)."""
    (hp, wp), p = grid, patch_size
    if patches.dim() != 3 or patches.shape[1:] != (hp * wp, p * p * channels):
        raise ValueError(
            f"patches must be [B, {hp} * {wp}, {p} * {p} * {channels}], got {tuple(patches.shape)}"
        )
    x = patches.reshape(patches.shape[0], hp, wp, p, p, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(patches.shape[0], channels, hp * p, wp * p)


class CSRLoss(nn.Module):
    """MSE between predicted and (per-patch normalised) pixels, averaged over masked patches only.

    Args:
        patch_size: p, the patch side of the backbone.
        norm_pix: normalise each target patch by its own mean and (unbiased, as MAE) variance,
            eps 1e-6; MAE reports sharper features with it.
    """

    def __init__(self, patch_size: int = 16, norm_pix: bool = True) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.norm_pix = norm_pix

    def forward(self, pred: Tensor, images: Tensor, mask: Tensor) -> Tensor:
        """Args:
            pred: decoder output [B, L, p * p * C] for every grid cell.
            images: the CSR view [B, C, H, W] (normalised input pixels), L = (H/p) * (W/p).
            mask: bool [B, L], True = masked (scored); visible cells contribute nothing.

        Returns:
            Scalar loss (float32).
        """
        target = patchify(images.float(), self.patch_size)
        if pred.shape != target.shape:
            raise ValueError(f"pred must be {tuple(target.shape)} for these images, got {tuple(pred.shape)}")
        if mask.dtype != torch.bool or mask.shape != target.shape[:2]:
            raise ValueError(
                f"mask must be bool {tuple(target.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}"
            )
        if value_checks(mask) and not bool(mask.any()):  # a sync on accelerators: debug only
            raise ValueError("mask has no masked patch: nothing to reconstruct")
        if self.norm_pix:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        per_patch = (pred.float() - target).pow(2).mean(dim=-1)  # [B, L]
        return per_patch.masked_fill(~mask, 0.0).sum() / mask.sum()  # no boolean indexing: no sync
