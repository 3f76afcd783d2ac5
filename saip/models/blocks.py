"""timm's pre-norm transformer `Block`, split open where SAIP needs only part of it.

Two exact shortcuts over `block(x)` (same weights, same operations, fewer of them):
- `block_with_qkv`: the block's output and its per-head q, k, v from one norm + qkv projection
  (the attention-relation loss reads the last block's q, k, v);
- `class_token_block`: only the class token's output: keys and values over every token, the
  query, projection and MLP for the first token only (the CSS query keeps only that token).
"""

from __future__ import annotations

import torch.nn.functional as F
from timm.models.vision_transformer import Attention, Block
from torch import Tensor

QKV = tuple[Tensor, Tensor, Tensor]


def _heads(attn: Attention, x: Tensor, parts: int) -> Tensor:
    """[B, N, parts * H * d] -> [parts, B, H, N, d]."""
    b, n, _ = x.shape
    return x.reshape(b, n, parts, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)


def _attend(attn: Attention, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """timm `Attention.forward` after its qkv projection: heads [B, H, Nq, d] -> [B, Nq, C]."""
    if attn.gate is not None:
        raise ValueError("gated timm attention is not supported")
    if attn.fused_attn:
        dropout = attn.attn_drop.p if attn.training else 0.0
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
    else:
        x = attn.attn_drop(((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)) @ v
    b, _, n, _ = x.shape
    x = attn.norm(x.transpose(1, 2).reshape(b, n, attn.attn_dim))
    return attn.proj_drop(attn.proj(x))


def _finish(block: Block, x: Tensor, attended: Tensor) -> Tensor:
    x = x + block.drop_path1(block.ls1(attended))
    return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))


def block_with_qkv(block: Block, x: Tensor) -> tuple[Tensor, QKV]:
    """`block(x)` [B, N, C] and its q, k, v [B, H, N, d] (after timm's q/k norms)."""
    attn = block.attn
    q, k, v = _heads(attn, attn.qkv(block.norm1(x)), 3).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    return _finish(block, x, _attend(attn, q, k, v)), (q, k, v)


def class_token_block(block: Block, x: Tensor) -> Tensor:
    """`block(x)[:, :1]` [B, 1, C] for x [B, N, C], without the other tokens' queries and MLP."""
    attn = block.attn
    c = attn.attn_dim
    y = block.norm1(x)
    weight, bias = attn.qkv.weight, attn.qkv.bias
    q = _heads(attn, F.linear(y[:, :1], weight[:c], None if bias is None else bias[:c]), 1)[0]
    k, v = _heads(attn, F.linear(y, weight[c:], None if bias is None else bias[c:]), 2).unbind(0)
    return _finish(block, x[:, :1], _attend(attn, attn.q_norm(q), attn.k_norm(k), v))
