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


def _reference_logits(head: CSMHead, x: torch.Tensor) -> torch.Tensor:
    """The weight-normalised layer itself: the normalised [K, d] weight built on every call."""
    return head.last_layer(torch.nn.functional.normalize(head.mlp(x), dim=-1))


def test_logits_over_row_norms_equal_the_weight_normalised_layer_with_gradients() -> None:
    torch.manual_seed(0)
    # float64: the written-out backward sums in another order than autograd's (float32: ~1e-6).
    head = CSMHead(16, 64, hidden_dim=24, bottleneck_dim=8).double()
    with torch.no_grad():  # prototypes of unequal norms, so dividing by them matters
        head.last_layer.parametrizations.weight.original1.mul_(torch.rand(64, 1) * 3 + 0.1)
    x = torch.randn(5, 16, dtype=torch.float64, requires_grad=True)
    grads = []
    for forward in (head, lambda t: _reference_logits(head, t)):
        head.zero_grad()
        x.grad = None
        out = forward(x)
        (out * torch.linspace(-1, 1, 64, dtype=torch.float64)).sum().backward()
        grads.append(
            (out.detach(), x.grad.clone(), *(p.grad.clone() for p in head.parameters() if p.requires_grad))
        )
    for fast, ref in zip(*grads, strict=True):
        torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_frozen_head_keeps_its_norms_until_the_weights_change() -> None:
    torch.manual_seed(0)
    head = CSMHead(16, 32, hidden_dim=24, bottleneck_dim=8).requires_grad_(False)
    x = torch.randn(3, 16)
    first = head.prototype_norms()
    assert head.prototype_norms() is first  # computed once
    moving = [p for n, p in head.named_parameters() if "original0" not in n]  # the gain stays 1
    torch._foreach_lerp_(moving, [torch.rand_like(p) for p in moving], 0.5)
    assert head.prototype_norms() is not first  # an in-place update invalidates them
    torch.testing.assert_close(head(x), _reference_logits(head, x), rtol=1e-5, atol=1e-6)
    head.load_state_dict(CSMHead(16, 32, hidden_dim=24, bottleneck_dim=8).state_dict())
    torch.testing.assert_close(head(x), _reference_logits(head, x), rtol=1e-5, atol=1e-6)


def test_bf16_autocast_keeps_the_layers_dtypes() -> None:
    """Under autocast (the CUDA recipe) the fast path returns what the weight-normalised layer
    returns, in its dtype, and the float32 parameters get float32 gradients."""
    torch.manual_seed(0)
    head, x = CSMHead(16, 64, hidden_dim=24, bottleneck_dim=8), torch.randn(5, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast, ref = head(x), _reference_logits(head, x)
    assert fast.dtype == ref.dtype
    torch.testing.assert_close(fast.float(), ref.float(), rtol=2e-2, atol=2e-2)
    fast.float().sum().backward()
    v = head.last_layer.parametrizations.weight.original1
    assert v.grad is not None and v.grad.dtype == torch.float32


def test_a_head_without_prototypes_returns_unit_embeddings_and_has_no_prototype_layer() -> None:
    head = CSMHead(16, 1024, hidden_dim=32, bottleneck_dim=8, prototypes=False)
    z = head(torch.randn(5, 16))
    assert z.shape == (5, 8) and head.last_layer is None
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(5))
    assert sum(p.numel() for p in head.parameters()) == 16 * 32 + 32 + 32 * 32 + 32 + 32 * 8 + 8
