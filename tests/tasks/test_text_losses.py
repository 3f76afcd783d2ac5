"""SDM, ITC and the shared-classifier ID loss: closed-form cases and a loop reference."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from saip.tasks.text_losses import itc_loss, sdm_loss, shared_id_loss

EPS = 1e-8


def _sdm_reference(image, text, pids, scale) -> float:
    """KL(softmax(scale cos) || same-person distribution), row by row, both directions, in floats."""
    n = len(pids)
    cos = [[F.cosine_similarity(image[i], text[j], dim=0).item() for j in range(n)] for i in range(n)]
    total = 0.0
    for matrix in (cos, [list(col) for col in zip(*cos, strict=True)]):
        rows = []
        for i in range(n):
            z = [math.exp(scale * c) for c in matrix[i]]
            p = [v / sum(z) for v in z]
            positives = sum(pids[j] == pids[i] for j in range(n))
            q = [(pids[j] == pids[i]) / positives for j in range(n)]
            rows.append(sum(p[j] * (math.log(p[j]) - math.log(q[j] + EPS)) for j in range(n)))
        total += sum(rows) / n
    return total


def test_sdm_closed_form_two_people() -> None:
    """Orthogonal people, captions equal to their images: each row's softmax at scale 1 is
    (e, 1) / (e + 1) against the one-hot target, in both directions."""
    e = torch.eye(2)
    p_hit, p_miss = math.e / (math.e + 1), 1 / (math.e + 1)
    row = p_hit * math.log(p_hit / (1 + EPS)) + p_miss * (math.log(p_miss) - math.log(EPS))
    assert sdm_loss(e, e, torch.tensor([0, 1]), 1.0).item() == pytest.approx(2 * row, rel=1e-6)


def test_sdm_same_person_columns_share_the_mass() -> None:
    """Two images of one person and their captions, all identical: the softmax is uniform and so is
    the target, so the loss is zero (ITC would still push the two apart)."""
    x = torch.ones(2, 3)
    pids = torch.tensor([4, 4])
    assert sdm_loss(x, x, pids, 50.0).item() == pytest.approx(0.0, abs=1e-6)
    assert itc_loss(x, x, 50.0).item() == pytest.approx(math.log(2), rel=1e-6)


def test_sdm_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(0)
    image, text = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    pids = torch.tensor([0, 1, 0, 2, 1, 3])
    expected = _sdm_reference(image, text, pids.tolist(), 5.0)
    assert sdm_loss(image, text, pids, 5.0).item() == pytest.approx(expected, rel=1e-5)


def test_sdm_small_when_aligned() -> None:
    e = torch.eye(4)
    assert abs(sdm_loss(e, e, torch.arange(4), 50.0).item()) < 1e-6
    assert sdm_loss(e, e.roll(1, 0), torch.arange(4), 50.0).item() > 30


def test_itc_closed_form() -> None:
    e = torch.eye(2)
    # each row's logits are (s, 0): cross-entropy log(1 + e^-s), the same in both directions
    assert itc_loss(e, e, 2.0).item() == pytest.approx(math.log(1 + math.exp(-2.0)), rel=1e-6)


def test_shared_id_loss_uses_one_classifier_for_both() -> None:
    classifier = nn.Linear(3, 4)
    image, text = torch.randn(5, 3), torch.randn(5, 3)
    pids = torch.tensor([0, 1, 2, 3, 0])
    loss = shared_id_loss(classifier, image, text, pids)
    expected = (F.cross_entropy(classifier(image), pids) + F.cross_entropy(classifier(text), pids)) / 2
    assert loss.item() == pytest.approx(expected.item())
    text.requires_grad_(True)
    shared_id_loss(classifier, image, text, pids).backward()
    assert text.grad is not None and text.grad.abs().sum() > 0 and classifier.weight.grad.abs().sum() > 0


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[B, E\]"):
        sdm_loss(torch.zeros(3, 4), torch.zeros(2, 4), torch.zeros(3, dtype=torch.long), 50.0)
    with pytest.raises(ValueError, match=r"pids \[B\]"):
        sdm_loss(torch.zeros(3, 4), torch.zeros(3, 4), torch.zeros(2, dtype=torch.long), 50.0)
