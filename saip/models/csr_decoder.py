"""CSR decoder: MAE-style transformer that predicts the pixels of every cell of a scaled view's grid.

Written from docs/method.md (MAE decoder, He et al., 2022). Differences from MAE: the grid is any
(Hp, Wp) (the CSR view is the anchor grid scaled x1.25), so the decoder's own position embeddings
are stored for the anchor grid and resampled in 2-D per call (never as a 1-D sequence), and one
extra position belongs to the class token of the unmasked anchor view that conditions the decoder.
"""

from __future__ import annotations

import torch
from timm.layers import build_sincos2d_pos_embed, resample_abs_pos_embed
from timm.models.vision_transformer import Block, init_weights_vit_timm
from torch import Tensor, nn

from saip.debug import value_checks


class CSRDecoder(nn.Module):
    """Mask tokens + embedded visible tokens + anchor class token -> pixels per grid cell.

    Args:
        embed_dim: width D of the encoder tokens (intermediate tap).
        decoder_dim: decoder width (recipe 512; multiple of 4 for the sin-cos initialisation).
        depth: transformer blocks (recipe 8).
        num_heads: attention heads (recipe 16).
        patch_size: p, so each cell predicts p * p * in_chans values.
        in_chans: image channels C.
        anchor_grid: (Hp, Wp) the position embeddings are stored for (recipe (16, 8) = 256x128 / 16).
        masked_cls: also take the masked view's own class token, before the anchor's (research code).

    Attributes:
        pos_embed: [1, P + Hp * Wp, decoder_dim]: the P class tokens' positions (masked view's if
            `masked_cls`, then the anchor's), then the grid row-major; learnable, the grid part
            initialised with 2-D sin-cos.
        mask_token: [1, 1, decoder_dim], stands in for every cell without a visible token.
    """

    def __init__(
        self,
        embed_dim: int,
        decoder_dim: int = 512,
        depth: int = 8,
        num_heads: int = 16,
        patch_size: int = 16,
        in_chans: int = 3,
        anchor_grid: tuple[int, int] = (16, 8),
        masked_cls: bool = False,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.anchor_grid = tuple(anchor_grid)
        self.prefix = 2 if masked_cls else 1
        self.embed = nn.Linear(embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.prefix + anchor_grid[0] * anchor_grid[1], decoder_dim)
        )
        self.blocks = nn.Sequential(
            *[Block(decoder_dim, num_heads, qkv_bias=True, norm_layer=nn.LayerNorm) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(decoder_dim)
        self.pred = nn.Linear(decoder_dim, patch_size * patch_size * in_chans)
        self.apply(init_weights_vit_timm)
        with torch.no_grad():
            self.pos_embed[0, self.prefix :] = build_sincos2d_pos_embed(list(anchor_grid), decoder_dim)
            nn.init.trunc_normal_(self.pos_embed[:, : self.prefix], std=0.02)
            nn.init.trunc_normal_(self.mask_token, std=0.02)

    def no_weight_decay(self) -> set[str]:
        """Parameter names to keep out of weight decay (used by timm's param-group helpers)."""
        return {"pos_embed", "mask_token"}

    def grid_pos_embed(self, grid: tuple[int, int]) -> Tensor:
        """Position embeddings for `grid` (Hp, Wp): [1, P + Hp * Wp, decoder_dim], resampled in 2-D."""
        return resample_abs_pos_embed(
            self.pos_embed,
            new_size=list(grid),
            old_size=list(self.anchor_grid),
            num_prefix_tokens=self.prefix,
        )

    def forward(
        self,
        visible_tokens: Tensor,
        visible_index: Tensor,
        grid: tuple[int, int],
        anchor_cls: Tensor,
        masked_cls: Tensor | None = None,
    ) -> Tensor:
        """Args:
            visible_tokens: encoder tokens of the visible cells [B, Nv, D].
            visible_index: their positions in the row-major (Hp, Wp) grid, LongTensor [B, Nv], distinct
                per row (`saip.data.masking.visible_indices`).
            grid: (Hp, Wp) of the view.
            anchor_cls: class token of the unmasked anchor view [B, D].
            masked_cls: class token of the masked view [B, D]; exactly when built with `masked_cls`.

        Returns:
            Pixel predictions for every cell [B, Hp * Wp, p * p * C] (the loss scores the masked ones).
        """
        b = self._check(visible_tokens, visible_index, grid, anchor_cls, masked_cls)
        cells = grid[0] * grid[1]
        x = self.embed(visible_tokens)  # [B, Nv, Dd]
        index = visible_index.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        x = torch.scatter(self.mask_token.expand(b, cells, -1).to(x.dtype), 1, index, x)  # [B, N, Dd]
        classes = [anchor_cls] if masked_cls is None else [masked_cls, anchor_cls]
        x = torch.cat([self.embed(torch.stack(classes, dim=1)), x], dim=1) + self.grid_pos_embed(grid)
        x = self.norm(self.blocks(x))
        return self.pred(x[:, self.prefix :])

    def _check(
        self, tokens: Tensor, index: Tensor, grid: tuple[int, int], cls: Tensor, masked_cls: Tensor | None
    ) -> int:
        """Raise a clear ValueError on inconsistent inputs; return the batch size. The index values
        are read only where `saip.debug.value_checks` allows (a sync on accelerators)."""
        if tokens.dim() != 3 or tokens.shape[-1] != self.embed_dim:
            raise ValueError(f"visible_tokens must be [B, Nv, {self.embed_dim}], got {tuple(tokens.shape)}")
        b, nv = tokens.shape[:2]
        if index.shape != (b, nv) or index.dtype != torch.long:
            raise ValueError(
                f"visible_index must be a LongTensor [{b}, {nv}], got {index.dtype} {tuple(index.shape)}"
            )
        for name, c in (("anchor_cls", cls), ("masked_cls", masked_cls)):
            if c is not None and c.shape != (b, self.embed_dim):
                raise ValueError(f"{name} must be [{b}, {self.embed_dim}], got {tuple(c.shape)}")
        if (masked_cls is not None) != (self.prefix == 2):
            raise ValueError(
                f"masked_cls must be given exactly when the decoder is built with it ({self.prefix == 2})"
            )
        if len(grid) != 2 or min(grid) < 1:
            raise ValueError(f"grid must be (Hp, Wp) with positive sides, got {grid}")
        if not value_checks(index):
            return b
        cells = grid[0] * grid[1]
        ordered = index.sort(dim=1).values
        if bool(
            (ordered[:, :1] < 0).any() | (ordered[:, -1:] >= cells).any() | (ordered.diff(dim=1) == 0).any()
        ):
            raise ValueError(f"visible_index must hold distinct positions in [0, {cells}) per row")
        return b
