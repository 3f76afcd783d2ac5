"""Flip test for dense outputs: average the prediction with that of the mirrored input.

Why one helper for heatmaps and part logits: both are per-channel maps whose left/right channels
swap under a mirror (keypoint pairs, LIP's left/right arm, leg and shoe), so un-mirroring is the
same width flip plus channel permutation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor


def swap_index(num: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Permutation p such that channel i of a mirrored image is channel p[i] of the original."""
    index = np.arange(num)
    for a, b in pairs:
        index[a], index[b] = b, a
    return index


def flip_back(maps: Tensor, index: np.ndarray) -> Tensor:
    """Maps [B, C, h, w] predicted on a mirrored input -> the original input's frame."""
    return maps.flip(-1).index_select(1, torch.as_tensor(index, device=maps.device))


def flip_test(forward: Callable[[Tensor], Tensor], images: Tensor, index: np.ndarray) -> Tensor:
    """Mean of `forward(images)` and the un-mirrored `forward(mirrored images)`, [B, C, h, w].

    Both passes share one batch, which halves the kernel launches on small inputs.
    """
    both = forward(torch.cat([images, images.flip(-1)]))
    plain, mirrored = both.chunk(2)
    return (plain + flip_back(mirrored, index)) / 2
