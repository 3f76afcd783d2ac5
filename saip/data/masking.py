"""CSR masks: a random mask on the anchor patch grid, carried to another scale's grid.

The CSR view is global view 2 upscaled (recipe x1.25: grid (16, 8) -> (20, 10)). The mask is drawn on
the anchor grid and resized so that the masked regions are the same image regions at both scales.
A resized mask has a varying number of visible cells (about 38 to 65 of 200 in the recipe); the
research code then keeps a fixed 50 tokens anyway, feeding masked patches to the encoder and scoring
visible ones. Here every row is adjusted to exactly `num_visible` visible cells instead, so the
encoder sees exactly the visible cells and the loss scores exactly the masked ones.
Masks are bool [B, Hg * Wg], row-major over the (Hg, Wg) grid, True = masked.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_grid_mask(
    batch: int,
    grid: tuple[int, int],
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Mask exactly round(ratio * Hg * Wg) uniformly random cells of every row.

    Returns:
        bool [B, Hg * Wg], True = masked.
    """
    _check_grid(grid)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"mask ratio must be in [0, 1], got {ratio}")
    cells = grid[0] * grid[1]
    num_masked = round(ratio * cells)
    noise = _uniform(batch, cells, generator, device)
    masked_ids = noise.argsort(dim=1)[:, :num_masked]
    mask = torch.zeros(batch, cells, dtype=torch.bool, device=noise.device)
    return mask.scatter_(1, masked_ids, True)


def resize_grid_mask(
    mask: Tensor,
    from_grid: tuple[int, int],
    to_grid: tuple[int, int],
    num_visible: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Nearest-resize a mask to another grid, then fix every row to exactly `num_visible` visible cells.

    Each target cell takes the state of the source cell under its centre ('nearest-exact'; plain
    'nearest' samples the cell's top-left corner, which shifts the mask by up to one source cell).
    Rows with too few visible cells reveal randomly chosen masked cells, rows with too many hide
    randomly chosen visible ones: the fewest cells change.

    Args:
        mask: bool [B, Hf * Wf], True = masked.
        from_grid: (Hf, Wf) of `mask`.
        to_grid: (Ht, Wt) of the result.
        num_visible: visible cells per row of the result (recipe 50 of 200).

    Returns:
        bool [B, Ht * Wt], True = masked, exactly `num_visible` False per row.
    """
    _check_grid(from_grid)
    _check_grid(to_grid)
    if mask.dtype != torch.bool or mask.dim() != 2 or mask.shape[1] != from_grid[0] * from_grid[1]:
        raise ValueError(
            f"mask must be bool [B, {from_grid[0]} * {from_grid[1]}], got {mask.dtype} {tuple(mask.shape)}"
        )
    cells = to_grid[0] * to_grid[1]
    if not 0 <= num_visible <= cells:
        raise ValueError(f"num_visible must be in [0, {cells}], got {num_visible}")
    batch = mask.shape[0]
    grid_2d = mask.view(batch, 1, *from_grid).float()
    resized = F.interpolate(grid_2d, size=to_grid, mode="nearest-exact").view(batch, cells) > 0.5
    # Visible cells rank above masked ones, random order within each group: the top num_visible
    # keep every visible cell they can and reveal masked cells only when they must.
    key = (~resized).float() + _uniform(batch, cells, generator, mask.device)
    keep = key.topk(num_visible, dim=1).indices
    out = torch.ones_like(resized)
    return out.scatter_(1, keep, False)


def visible_indices(mask: Tensor) -> Tensor:
    """Positions of the visible cells, ascending, LongTensor [B, Nv]; rows must have equal Nv.

    This is the `visible_index` the CSR decoder takes, and what gathers the encoder's input tokens.
    """
    if mask.dtype != torch.bool or mask.dim() != 2:
        raise ValueError(f"mask must be bool [B, N], got {mask.dtype} {tuple(mask.shape)}")
    counts = (~mask).sum(dim=1)
    if bool((counts != counts[0]).any()):
        raise ValueError(f"rows have different numbers of visible cells: {counts.tolist()}")
    return (~mask).nonzero()[:, 1].view(mask.shape[0], -1)


def _uniform(
    batch: int, cells: int, generator: torch.Generator | None, device: torch.device | str | None
) -> Tensor:
    # Draw on the generator's device (a CPU generator cannot fill a CUDA tensor), then move.
    source = generator.device if generator is not None else device
    return torch.rand(batch, cells, generator=generator, device=source).to(device)


def _check_grid(grid: tuple[int, int]) -> None:
    if len(grid) != 2 or min(grid) < 1:
        raise ValueError(f"grid must be (H, W) with positive sides, got {grid}")
