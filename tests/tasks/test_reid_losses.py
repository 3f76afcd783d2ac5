"""Triplet loss, BNNeck model and k-reciprocal re-ranking on small hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from saip.tasks.reid_model import ReidModel
from saip.tasks.reranking import k_reciprocal_rerank
from saip.tasks.triplet import TripletLoss


def test_triplet_batch_hard_by_hand() -> None:
    feats = torch.tensor([[0.0], [1.0], [3.0], [5.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    # hardest (pos, neg) per anchor: (1, 3), (1, 2), (2, 2), (2, 4) -> only anchor 3.0 violates: 0.3
    loss = TripletLoss(0.3)(feats, labels)
    assert loss.item() == pytest.approx(0.3 / 4)
    loss.backward()
    assert torch.isfinite(feats.grad).all()
    soft = TripletLoss(0.0)(feats, labels)
    gaps = torch.tensor([1 - 3, 1 - 2, 2 - 2, 2 - 4.0])
    assert soft.item() == pytest.approx(torch.nn.functional.softplus(gaps).mean().item())


def test_triplet_bad_input() -> None:
    with pytest.raises(ValueError, match="two identities"):
        TripletLoss()(torch.randn(3, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="expected feats"):
        TripletLoss()(torch.randn(3, 4), torch.zeros(2, dtype=torch.long))


def test_bnneck_model() -> None:
    model = ReidModel(nn.Linear(6, 8), embed_dim=8, num_ids=5)
    feat, logits = model(torch.randn(4, 6))
    assert feat.shape == (4, 8) and logits.shape == (4, 5)
    logits.sum().backward()
    assert model.neck.bias.grad is None  # the neck's bias stays at zero
    model.eval()
    assert model(torch.randn(3, 6)).shape == (3, 8)


def _points_distance(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    return np.abs(q[:, None] - g[None, :]).astype(np.float32)


def test_rerank_prefers_reciprocal_neighbour() -> None:
    # 1-D points: query at 0; an impostor at 0.25 sits inside another tight group (0.3 .. 0.45),
    # the true match at -0.3 in the query's own group (-0.35, -0.4). By distance the impostor
    # wins; the query is among the match's nearest neighbours but not the impostor's.
    q = np.array([0.0])
    g = np.array([0.25, 0.3, 0.35, 0.4, 0.45, -0.3, -0.35, -0.4])
    original = _points_distance(q, g)
    assert original[0].argmin() == 0
    reranked = k_reciprocal_rerank(original, _points_distance(q, q), _points_distance(g, g), k1=3, k2=1)
    assert reranked.shape == (1, 8) and reranked[0].argmin() == 5


def test_rerank_lambda_one_keeps_order_and_bad_shapes() -> None:
    rng = np.random.default_rng(0)
    q, g = rng.random(3), rng.random(7)
    original = _points_distance(q, g)
    only_original = k_reciprocal_rerank(
        original, _points_distance(q, q), _points_distance(g, g), k1=3, k2=2, lambda_value=1.0
    )
    np.testing.assert_array_equal(only_original.argsort(1), original.argsort(1))
    with pytest.raises(ValueError, match="re-ranking needs"):
        k_reciprocal_rerank(original, _points_distance(g, g), _points_distance(g, g))
