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
