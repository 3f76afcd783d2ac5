"""CSS decoder: a person query searches a multi-person scene and returns per-cell mask logits.

Written from docs/method.md ("CSS decoder"). The query view's class token, refined by a few
self-attention blocks, attends to the scene tokens and becomes a dynamic kernel; the mask logit of a
scene cell is that kernel's dot product with a conv feature map of the scene (a dynamic-kernel mask
head in the spirit of CondInst/SOLOv2), so one decoder serves any query and any scene.
"""

from __future__ import annotations

import torch
from timm.layers import Mlp
from timm.models.vision_transformer import Block, init_weights_vit_timm
from torch import Tensor, nn

from saip.models.blocks import class_token_block


class CrossAttentionBlock(nn.Module):
    """Pre-norm cross-attention from queries to a memory, then an MLP, both residual.

    Args:
        dim: width of queries and memory.
        num_heads: attention heads (dim must divide by it).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, query: Tensor, memory: Tensor) -> Tensor:
        """Queries [B, Nq, dim] attend to memory [B, Nm, dim] -> [B, Nq, dim]."""
        x = query + self.attn(self.norm_q(query), memory, memory, need_weights=False)[0]
        return x + self.mlp(self.norm_mlp(x))


class CSSDecoder(nn.Module):
    """Query view tokens + scene tokens -> mask logits on the scene grid.

    Args:
        embed_dim: width D of the query view's tokens (student, intermediate tap).
        dim: decoder width (recipe 512).
        query_depth: self-attention blocks over the query tokens (recipe 2).
        num_heads: heads of those blocks and of the cross-attention (research code 16).
        mask_convs: 3x3 convs of the mask head after its 1x1 conv (recipe 3).
        scene_dim: width Ds of the scene tokens (teacher, intermediate tap); defaults to embed_dim.
    """

    def __init__(
        self,
        embed_dim: int = 192,
        dim: int = 512,
        query_depth: int = 2,
        num_heads: int = 8,
        mask_convs: int = 3,
        scene_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.scene_dim = scene_dim or embed_dim
        self.query_embed = nn.Linear(embed_dim, dim)
        self.query_blocks = nn.Sequential(
            *[Block(dim, num_heads, qkv_bias=True, norm_layer=nn.LayerNorm) for _ in range(query_depth)]
        )
        self.scene_embed = nn.Sequential(nn.Linear(self.scene_dim, dim), nn.LayerNorm(dim))
        self.cross = CrossAttentionBlock(dim, num_heads)
        self.kernel = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))  # as the research code
        convs: list[nn.Module] = [nn.Conv2d(self.scene_dim, dim, kernel_size=1), nn.GELU()]
        for _ in range(mask_convs):
            convs += [nn.Conv2d(dim, dim, kernel_size=3, padding=1), nn.GELU()]
        self.mask_head = nn.Sequential(*convs)
        self.apply(init_weights_vit_timm)

    def forward(self, query_tokens: Tensor, scene_tokens: Tensor, scene_grid: tuple[int, int]) -> Tensor:
        """Args:
            query_tokens: query view tokens [B, 1 + Nq, D], class token first.
            scene_tokens: scene patch tokens [B, Hs * Ws, Ds], row-major, no class token.
            scene_grid: (Hs, Ws) of the scene (recipe (14, 14)).

        Returns:
            Mask logits [B, Hs, Ws].
        """
        return self.search([query_tokens], scene_tokens, scene_grid)[0]

    def search(
        self, queries: list[Tensor], scene_tokens: Tensor, scene_grid: tuple[int, int]
    ) -> list[Tensor]:
        """Several queries (e.g. CSS inst and roi) against one scene: mask logits [B, Hs, Ws] each.

        The scene side (embedding and the conv mask head, the costliest part of a SAIP step) does
        not depend on the query, so it runs once per scene instead of once per search.
        """
        for query in queries:
            self._check(query, scene_tokens, scene_grid)
        memory = self.scene_embed(scene_tokens)
        b = scene_tokens.shape[0]
        scene_map = scene_tokens.transpose(1, 2).reshape(b, self.scene_dim, *scene_grid)  # [B, Ds, Hs, Ws]
        features = self.mask_head(scene_map)  # [B, dim, Hs, Ws]
        logits = []
        for query in queries:
            q = self.query_class_token(query)  # [B, 1, dim]
            kernel = self.kernel(self.cross(q, memory).squeeze(1))  # [B, dim]
            logits.append(torch.einsum("bc,bchw->bhw", kernel, features))
        return logits

    def query_class_token(self, query: Tensor) -> Tensor:
        """The class token of `query_blocks(query_embed(query))` [B, 1, dim]: the last block
        computes that token alone (the others feed its keys and values only)."""
        x = self.query_embed(query)
        if not len(self.query_blocks):
            return x[:, :1]
        for block in self.query_blocks[:-1]:
            x = block(x)
        return class_token_block(self.query_blocks[-1], x)

    def _check(self, query: Tensor, scene: Tensor, grid: tuple[int, int]) -> None:
        if query.dim() != 3 or query.shape[1] < 1 or query.shape[-1] != self.embed_dim:
            raise ValueError(f"query_tokens must be [B, 1 + Nq, {self.embed_dim}], got {tuple(query.shape)}")
        if len(grid) != 2 or min(grid) < 1:
            raise ValueError(f"scene_grid must be (Hs, Ws) with positive sides, got {grid}")
        expected = (query.shape[0], grid[0] * grid[1], self.scene_dim)
        if scene.shape != expected:
            raise ValueError(
                f"scene_tokens must be {expected} for grid {tuple(grid)}, got {tuple(scene.shape)}"
            )
