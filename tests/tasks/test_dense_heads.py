"""Dense decoders: output grids from the carried token grid, gradients, the frozen protocol."""

from __future__ import annotations

import pytest
import torch

from saip.models.backbone import create_backbone
from saip.tasks.dense.heads import DenseModel, HeatmapHead, PartHead, token_map


def test_token_map_is_row_major_and_checked() -> None:
    tokens = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)
    maps = token_map(tokens, (2, 3))
    assert maps.shape == (2, 3, 2, 3) and maps[0, :, 1, 0].tolist() == tokens[0, 3].tolist()
    with pytest.raises(ValueError, match="grid"):
        token_map(tokens, (4, 2))


def test_heads_reach_stride_four() -> None:
    assert HeatmapHead(16, 17, stride=16, width=8)(torch.randn(2, 16, 4, 3)).shape == (2, 17, 16, 12)
    assert HeatmapHead(16, 5, stride=32, width=8)(torch.randn(2, 16, 2, 2)).shape == (2, 5, 16, 16)
    head = PartHead(16, 12, num_classes=20, width=8)
    assert head(torch.randn(2, 16, 2, 2), torch.randn(2, 12, 4, 4)).shape == (2, 20, 16, 16)
    with pytest.raises(ValueError, match="intermediate"):
        head(torch.randn(2, 16, 2, 2))


@pytest.mark.parametrize("frozen", [False, True])
def test_dense_model_gradients_follow_the_protocol(frozen: bool) -> None:
    backbone = create_backbone("vit_micro", (64, 48))
    model = DenseModel(
        backbone, PartHead(backbone.embed_dim, backbone.mid_dim, 20, width=8), mid=True, frozen=frozen
    )
    model.train()
    assert backbone.training is not frozen and model.head.training
    out = model(torch.randn(2, 3, 64, 48))
    assert out.shape == (2, 20, 16, 12)
    out.square().mean().backward()
    assert model.head.classifier[1].weight.grad is not None
    assert (backbone.model.blocks[0].attn.qkv.weight.grad is None) is frozen


def test_hybrid_backbone_final_grid() -> None:
    backbone = create_backbone("tiny_vit_5m", (64, 64))
    model = DenseModel(backbone, HeatmapHead(backbone.embed_dim, 17, stride=32, width=8), mid=False)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 17, 16, 16)
