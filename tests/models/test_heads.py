import copy

import pytest
import torch

from saip.models.heads import CSMHead


def test_forward_shape_and_logits_are_cosines() -> None:
    head = CSMHead(16, 32, hidden_dim=24, bottleneck_dim=8)
    logits = head(torch.randn(5, 16))
    assert logits.shape == (5, 32)
    # Unit-norm embedding against unit-norm prototypes: every logit is a cosine.
    assert logits.abs().max() <= 1 + 1e-5
    torch.testing.assert_close(head.last_layer.weight.norm(dim=1), torch.ones(32))


def test_layers_and_gelu_count() -> None:
    head = CSMHead(16, 32, hidden_dim=24, bottleneck_dim=8, nlayers=3)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(16, 24), (24, 24), (24, 8)]
    assert sum(isinstance(m, torch.nn.GELU) for m in head.mlp) == 2
    assert len(CSMHead(16, 32, bottleneck_dim=8, nlayers=1).mlp) == 1
    with pytest.raises(ValueError, match="nlayers"):
        CSMHead(16, 32, nlayers=0)


def test_gradients_reach_all_trainable_params_and_gain_is_frozen() -> None:
    head = CSMHead(16, 32, hidden_dim=24, bottleneck_dim=8)
    head(torch.randn(4, 16)).pow(2).sum().backward()
    gain = head.last_layer.parametrizations.weight.original0
    assert not gain.requires_grad and torch.equal(gain, torch.ones(32, 1))
    trainable = [(n, p) for n, p in head.named_parameters() if p.requires_grad]
    assert len(trainable) == 7  # 3 weights + 3 biases + prototype directions
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for _, p in trainable)


def test_deepcopy_and_state_dict_round_trip() -> None:
    head = CSMHead(16, 32, hidden_dim=24, bottleneck_dim=8)
    x = torch.randn(3, 16)
    teacher = copy.deepcopy(head)
    torch.testing.assert_close(teacher(x), head(x))
    assert not teacher.last_layer.parametrizations.weight.original0.requires_grad
    with torch.no_grad():  # the copy is independent of the original
        teacher.last_layer.parametrizations.weight.original1.add_(1.0)
    assert not torch.allclose(teacher(x), head(x))
    fresh = CSMHead(16, 32, hidden_dim=24, bottleneck_dim=8)
    fresh.load_state_dict(head.state_dict())
    torch.testing.assert_close(fresh(x), head(x))
    assert "last_layer.parametrizations.weight.original1" in head.state_dict()
