"""Shared fixtures of the export tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from saip.models.backbone import Backbone, create_backbone


@pytest.fixture
def perturbed() -> Callable[[str], Backbone]:
    """Make a 64x32 backbone whose tap norms differ from a fresh init, as after pretraining: a
    round trip that dropped them would then show."""

    def make(name: str) -> Backbone:
        backbone = create_backbone(name, (64, 32)).eval()
        with torch.no_grad():
            for key, tensor in backbone.state_dict().items():
                if not key.startswith("model."):
                    tensor.add_(torch.randn_like(tensor))
        return backbone

    return make


@pytest.fixture(scope="module")
def trained_like() -> Backbone:
    """A 64x32 vit_micro whose every weight is moved off its initialisation (matrices by 0.05,
    vectors by 0.1), so that images give distinct features: a fresh init maps all images to almost
    the same embedding and would flatter quantisation."""
    torch.manual_seed(0)
    backbone = create_backbone("vit_micro", (64, 32)).eval()
    with torch.no_grad():
        for p in backbone.parameters():
            p.add_(torch.randn_like(p) * (0.05 if p.ndim >= 2 else 0.1))
    return backbone
