"""Schedules are pure functions of the global optimizer step."""

from __future__ import annotations

import math

import pytest

from saip.train.optim import scaled_lr
from saip.train.schedules import cosine, ema_momentum, warmup_cosine


def test_cosine_end_points_and_midpoint() -> None:
    assert cosine(0, 100, 1.0, 0.0) == 1.0
    assert cosine(100, 100, 1.0, 0.0) == 0.0
    assert cosine(50, 100, 1.0, 0.0) == pytest.approx(0.5)
    assert cosine(500, 100, 1.0, 0.0) == 0.0  # clamped past the end


def test_warmup_then_cosine() -> None:
    lrs = [warmup_cosine(s, 20, 5, 1.0) for s in range(20)]
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lrs[5] == pytest.approx(1.0) and all(a >= b for a, b in zip(lrs[5:], lrs[6:], strict=False))
    assert warmup_cosine(20, 20, 5, 1.0) == pytest.approx(0.0)


def test_ema_momentum_reaches_one_over_all_steps() -> None:
    """The research code indexes by the step within an epoch and never leaves 0.996."""
    total = 3000
    assert ema_momentum(0, total, 0.996) == pytest.approx(0.996)
    assert ema_momentum(total // 2, total, 0.996) == pytest.approx(0.998)
    assert ema_momentum(total, total, 0.996) == pytest.approx(1.0)
    assert ema_momentum(total - 1, total, 0.996) > 0.9999


def test_lr_scaling_rule() -> None:
    assert scaled_lr(2.5e-4, 2048) == pytest.approx(2e-3)
    assert math.isclose(scaled_lr(2.5e-4, 256), 2.5e-4)
