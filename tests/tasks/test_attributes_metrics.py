"""Attribute metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from saip.tasks.attribute_metrics import attribute_metrics


def test_golden_case() -> None:
    labels = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]])
    scores = np.array([[0.9, 0.2, 0.4], [0.6, 0.1, 0.7], [0.8, 0.5, 0.3]])  # 0.5 counts as positive
    m = attribute_metrics(scores, labels)
    # per attribute (pos recall + neg recall) / 2: (1 + 0) / 2, (1 + 1) / 2, (1/2 + 1) / 2
    assert m["mA"] == pytest.approx((0.5 + 1.0 + 0.75) / 3)
    # per image (inter/union, inter/pred, inter/gt): (1/2, 1, 1/2), (1/2, 1/2, 1), (1, 1, 1)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["precision"] == pytest.approx(2.5 / 3) and m["recall"] == pytest.approx(2.5 / 3)
    assert m["F1"] == pytest.approx(2.5 / 3)


def test_empty_sets_count_zero() -> None:
    # no positive anywhere: positive recall 0, negative recall 1; each image's empty sets score 0
    m = attribute_metrics(np.array([[0.1], [0.2]]), np.array([[0], [0]]))
    assert m == pytest.approx({"mA": 0.5, "accuracy": 0.0, "precision": 0.0, "recall": 0.0, "F1": 0.0})


def test_threshold_and_bad_input() -> None:
    labels = np.array([[1, 0]])
    assert attribute_metrics(np.array([[0.6, 0.4]]), labels, threshold=0.7)["recall"] == 0.0
    with pytest.raises(ValueError, match=r"\[N, A\]"):
        attribute_metrics(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="0 or 1"):
        attribute_metrics(np.zeros((1, 2)), np.array([[2, 0]]))
