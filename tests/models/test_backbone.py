"""Backbone taps: shapes at several sizes, 2-D position resampling, the last block's q/k/v."""

from __future__ import annotations

import pytest
import timm
import torch

from saip.models.backbone import create_backbone


@pytest.mark.parametrize("size", [(256, 128), (320, 160), (128, 64), (96, 48)])
def test_vit_taps_shapes(size: tuple[int, int]) -> None:
    backbone = create_backbone("vit_micro")
    taps = backbone.forward_taps(torch.randn(2, 3, *size), qkv=True)
    grid = (size[0] // 16, size[1] // 16)
    assert taps.grid == grid
    assert taps.mid.shape == (2, grid[0] * grid[1], 48) and taps.mid_cls.shape == (2, 48)
    assert taps.final.shape == (2, grid[0] * grid[1], 48) and taps.cls.shape == (2, 48)
    assert all(t.shape == (2, 2, 1 + grid[0] * grid[1], 24) for t in taps.qkv)


def test_vit_default_mid_block_is_block_7_of_12() -> None:
    assert create_backbone("vit_tiny").mid_block == 6
    assert create_backbone("vit_micro").mid_block == 1


def test_sides_must_be_patch_multiples() -> None:
    with pytest.raises(ValueError, match="multiples of 16"):
        create_backbone("vit_micro").forward_taps(torch.randn(1, 3, 72, 40))


def test_position_embeddings_resampled_in_2d() -> None:
    """A pos-embed that encodes the row index must still increase down the rows on a bigger grid
    (a 1-D resampling of the flattened sequence scrambles rows and columns)."""
    backbone = create_backbone("vit_micro", (64, 32))  # anchor grid (4, 2)
    vit = backbone.model
    with torch.no_grad():
        rows = torch.arange(4).float().repeat_interleave(2)  # row index of each of the 8 cells
        vit.pos_embed[0, 1:, :] = rows[:, None]
        vit.pos_embed[0, 0, :] = 0
        captured = {}
        handle = vit.norm_pre.register_forward_hook(lambda m, i, o: captured.setdefault("x", i[0]))
        vit.patch_embed.proj.weight.zero_()
        vit.patch_embed.proj.bias.zero_()
        vit.cls_token.zero_()
        backbone.forward_taps(torch.zeros(1, 3, 128, 64), mid=False)  # grid (8, 4)
        handle.remove()
    pos = captured["x"][0, 1:, 0].reshape(8, 4)
    assert torch.all(pos[1:].mean(1) >= pos[:-1].mean(1))  # increases down the rows
    assert torch.allclose(pos, pos[:, :1].expand(-1, 4), atol=1e-5)  # constant along each row


def test_last_block_qkv_matches_block_attention() -> None:
    """The q, k, v the last block computed (once, for itself and the relation loss) reproduce that
    block's attention output, and the taps equal those of the plain timm block (qkv=False)."""
    backbone = create_backbone("vit_micro").eval()
    x = torch.randn(2, 3, 64, 32)
    captured = {}
    block = backbone.model.blocks[-1]
    handle = block.attn.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    plain = backbone.forward_taps(x, qkv=False)  # runs timm's block.attn
    handle.remove()
    taps = backbone.forward_taps(x, qkv=True)
    torch.testing.assert_close(taps.final, plain.final, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(taps.cls, plain.cls, atol=1e-6, rtol=1e-5)
    q, k, v = taps.qkv
    attn = torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1)
    out = block.attn.proj((attn @ v).transpose(1, 2).flatten(2))
    torch.testing.assert_close(out, captured["out"], atol=1e-5, rtol=1e-5)


def test_masked_mid_equals_gathering_visible_cells_for_vit() -> None:
    backbone = create_backbone("vit_micro").eval()
    x = torch.randn(2, 3, 80, 32)
    visible = torch.tensor([[0, 3, 7, 9], [1, 2, 5, 8]])
    taps = backbone.forward_masked_mid(x, visible)
    assert taps.mid.shape == (2, 4, 48) and taps.grid == (5, 2)


def test_hybrid_tinyvit_taps() -> None:
    backbone = create_backbone("tiny_vit_5m")
    taps = backbone.forward_taps(torch.randn(1, 3, 256, 128), qkv=True)
    assert taps.grid == (16, 8) and taps.mid.shape == (1, 128, 160)
    assert taps.final.shape == (1, 32, 320) and taps.cls.shape == (1, 320)
    visible = torch.arange(0, 200, 4).unsqueeze(0)
    masked = backbone.forward_masked_mid(torch.randn(1, 3, 320, 160), visible)
    assert masked.mid.shape == (1, 50, 160)
    loss = masked.mid.sum() + taps.cls.sum()
    loss.backward()
    assert backbone.mask_token.grad is not None and backbone.mask_token.grad.abs().sum() > 0


def test_convnet_taps_are_timms_model() -> None:
    """ConvNeXt-V2 femto: stride-16 `mid` from stage 3, `cls` exactly timm's own embedding, and
    the CSR mask token at the stem gets a gradient."""
    backbone = create_backbone("convnextv2_femto", (64, 32)).eval()
    x = torch.randn(2, 3, 64, 32)
    taps = backbone.forward_taps(x, qkv=True)
    assert taps.grid == (4, 2) and taps.mid.shape == (2, 8, 192)
    assert taps.final.shape == (2, 2, 384) and taps.cls.shape == (2, 384)
    assert taps.qkv[0].shape == (2, 4, 2, 96)
    plain = timm.create_model("convnextv2_femto", num_classes=0).eval()
    plain.load_state_dict(backbone.model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), taps.cls)
    masked = backbone.forward_masked_mid(torch.randn(2, 3, 64, 32), torch.tensor([[0, 5], [2, 7]]))
    assert masked.mid.shape == (2, 2, 192)
    masked.mid[..., 0].sum().backward()  # not the sum over channels: LayerNorm makes that constant
    assert backbone.mask_token.grad is not None and backbone.mask_token.grad.abs().sum() > 0
    odd = backbone.forward_taps(torch.randn(1, 3, 48, 16))  # a local crop: 3x1 cells at stride 16
    assert odd.grid == (3, 1) and odd.mid.shape == (1, 3, 192) and odd.final.shape == (1, 2, 384)
