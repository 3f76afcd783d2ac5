import math

import pytest
import torch

from saip.objectives.css import CSSLoss


def test_css_loss_hand_computed() -> None:
    # Cells: logit 0 -> -log(1/2) whatever the target; logit log 3 with target 1 -> -log(3/4);
    # logit log 3 with target 0 -> -log(1/4).
    logits = torch.tensor([[[0.0, math.log(3.0)], [math.log(3.0), 0.0]]])
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    expected = (2 * math.log(2.0) - math.log(0.75) - math.log(0.25)) / 4
    assert CSSLoss()(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_css_loss_bf16_logits_float32_loss_and_gradient() -> None:
    logits = torch.randn(2, 14, 14, requires_grad=True)
    target = (torch.rand(2, 14, 14) > 0.7).float()
    loss = CSSLoss()(logits.bfloat16(), target)
    assert loss.dtype == torch.float32
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_css_loss_bad_input() -> None:
    with pytest.raises(ValueError, match="B, Hs, Ws"):
        CSSLoss()(torch.zeros(1, 14, 14), torch.zeros(1, 14, 13))
    with pytest.raises(ValueError, match="B, Hs, Ws"):
        CSSLoss()(torch.zeros(14, 14), torch.zeros(14, 14))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        CSSLoss()(torch.zeros(1, 2, 2), torch.full((1, 2, 2), 2.0))
