"""The split-open timm Block equals `block(x)` (forward and gradients), fused attention or not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from timm.layers import set_fused_attn
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from saip.models.blocks import block_with_qkv, class_token_block
from saip.models.css_decoder import CSSDecoder


def _block(fused: bool, qk_norm: bool = False) -> Block:
    torch.manual_seed(0)
    set_fused_attn(fused)  # timm reads it when the module is built
    try:
        return Block(32, 4, qkv_bias=True, qk_norm=qk_norm, norm_layer=nn.LayerNorm, init_values=0.5)
    finally:
        set_fused_attn(True)


def _reference_qkv(block: Block, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    attn = block.attn
    b, n, _ = x.shape
    qkv = attn.qkv(block.norm1(x)).reshape(b, n, 3, attn.num_heads, attn.head_dim)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    return attn.q_norm(q), attn.k_norm(k), v


def _outputs_and_grads(fn: Callable[[Tensor], list[Tensor]], module: nn.Module, x: Tensor) -> list[Tensor]:
    module.zero_grad()
    x = x.clone().requires_grad_(True)
    outs = fn(x)
    sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in module.parameters()]
    return [o.detach() for o in outs] + [x.grad] + grads


def _assert_same(fast: list[Tensor], ref: list[Tensor]) -> None:
    for a, b in zip(fast, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("fused", "qk_norm"), [(True, False), (False, False), (True, True)])
def test_block_with_qkv_is_the_block_and_its_qkv(fused: bool, qk_norm: bool) -> None:
    block, x = _block(fused, qk_norm), torch.randn(2, 9, 32)
    fast = _outputs_and_grads(lambda t: [block_with_qkv(block, t)[0], *block_with_qkv(block, t)[1]], block, x)
    ref = _outputs_and_grads(lambda t: [block(t), *_reference_qkv(block, t)], block, x)
    _assert_same(fast, ref)


@pytest.mark.parametrize(("fused", "qk_norm"), [(True, False), (False, False), (True, True)])
def test_class_token_block_is_the_blocks_first_token(fused: bool, qk_norm: bool) -> None:
    block, x = _block(fused, qk_norm), torch.randn(3, 7, 32)
    fast = _outputs_and_grads(lambda t: [class_token_block(block, t)], block, x)
    ref = _outputs_and_grads(lambda t: [block(t)[:, :1]], block, x)
    assert fast[0].shape == (3, 1, 32)
    _assert_same(fast, ref)


def test_css_query_class_token_equals_the_full_query_blocks() -> None:
    torch.manual_seed(0)
    decoder, query = CSSDecoder(16, dim=32, query_depth=2, num_heads=2, mask_convs=1), torch.randn(2, 11, 16)
    fast = _outputs_and_grads(lambda t: [decoder.query_class_token(t)], decoder, query)
    ref = _outputs_and_grads(lambda t: [decoder.query_blocks(decoder.query_embed(t))[:, :1]], decoder, query)
    _assert_same(fast, ref)
