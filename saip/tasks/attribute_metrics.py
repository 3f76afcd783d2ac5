"""Pedestrian attribute metrics, label-based and instance-based, as the field reports them.

Definitions (Li et al. 2016 "A Richly Annotated Dataset for Pedestrian Attribute Recognition";
Jia et al. 2020 "Rethinking of Pedestrian Attribute Recognition"):
- `mA`: for each attribute the mean of its positive recall TP / P and negative recall TN / N,
  averaged over attributes (an attribute with no positives in the test set scores 0 on its
  positive recall, as in the reference evaluation);
- instance-based, for each image, with pred and gt the sets of predicted / true attributes:
  `accuracy` |pred & gt| / |pred | gt|, `precision` |pred & gt| / |pred|, `recall`
  |pred & gt| / |gt| (an empty denominator counts 0), each averaged over images, and
  `F1` = 2 precision recall / (precision + recall) of those averages.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-20  # the reference evaluation's guard: an empty denominator gives 0, never NaN


def attribute_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """scores [N, A] probabilities in 0..1, labels [N, A] in {0, 1} -> {mA, accuracy, precision, recall, F1}."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(f"scores and labels must both be [N, A], got {scores.shape} and {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("attribute labels must be 0 or 1")
    pred, gt = scores >= threshold, labels == 1
    pos_recall = (pred & gt).sum(0) / (gt.sum(0) + EPS)
    neg_recall = (~pred & ~gt).sum(0) / ((~gt).sum(0) + EPS)
    inter, union = (pred & gt).sum(1), (pred | gt).sum(1)
    precision = float(np.mean(inter / (pred.sum(1) + EPS)))
    recall = float(np.mean(inter / (gt.sum(1) + EPS)))
    return {
        "mA": float(np.mean((pos_recall + neg_recall) / 2)),
        "accuracy": float(np.mean(inter / (union + EPS))),
        "precision": precision,
        "recall": recall,
        "F1": 2 * precision * recall / (precision + recall + EPS),
    }
