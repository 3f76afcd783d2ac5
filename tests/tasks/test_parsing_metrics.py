"""APp and APr (CIHP's instance-level parsing metrics) on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from saip.tasks.instance.parsing_metrics import InstanceParsingAP, part_overlap, voc_ap


def _brute_overlap(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> float:
    ious = []
    for c in range(num_classes):
        union = ((pred == c) | (truth == c)).sum()
        if union:
            ious.append(((pred == c) & (truth == c)).sum() / union)
    return float(np.mean(ious))


def test_part_overlap_counts_background_and_skips_absent_classes() -> None:
    pred, truth = np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]])
    # background 2/3, class 1 1/2, class 2 absent from both
    assert part_overlap(pred, truth, 3) == pytest.approx(7 / 12)
    big_pred, big_truth = np.zeros((6, 6), np.int64), np.zeros((6, 6), np.int64)
    big_pred[2:4, 3:5], big_truth[2:4, 3:5] = pred, truth
    # the window around both people gives the full-image value: background 34/35
    assert part_overlap(big_pred, big_truth, 3) == pytest.approx((34 / 35 + 1 / 2) / 2)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, (7, 9)) * (rng.random((7, 9)) < 0.3), rng.integers(0, 4, (7, 9))
    assert part_overlap(a, b, 4) == pytest.approx(_brute_overlap(a, b, 4))


def test_voc_ap_all_point_interpolation() -> None:
    # TP, FP, FP, TP over 3 targets: recall 1/3 at precision 1, then 2/3 at 1/2
    assert voc_ap(np.array([1, 0, 0, 1]), np.array([0, 1, 1, 0]), 3) == pytest.approx(1 / 2)
    assert voc_ap(np.zeros(0), np.zeros(0), 3) == 0.0


def _golden() -> InstanceParsingAP:
    """Three 1x4 images, 3 classes. Image 1: persons P1 = [1,1,0,0], P2 = [0,0,2,2]; predicted P1
    twice (0.9, 0.8) and [0,0,2,0] (0.7, overlap 7/12 with P2). Image 2: one person [1,1,1,1],
    no prediction. Image 3: no person, a prediction [1,0,0,0] (0.75)."""
    metric = InstanceParsingAP(3)
    p1, p2 = np.array([1, 1, 0, 0]), np.array([0, 0, 2, 2])
    metric.add(
        np.stack([p1, p2])[:, None],
        (np.array([1, 2]), np.stack([p1 > 0, p2 > 0])[:, None]),
        (np.array([0.9, 0.8, 0.7]), np.stack([p1, p1, np.array([0, 0, 2, 0])])[:, None]),
    )
    whole = np.ones((1, 1, 4), np.int64)
    metric.add(whole, (np.array([1]), whole > 0), (np.zeros(0), np.zeros((0, 1, 4), np.int64)))
    metric.add(
        np.zeros((0, 1, 4), np.int64),
        (np.zeros(0, np.int64), np.zeros((0, 1, 4), bool)),
        (np.array([0.75]), np.array([[[1, 0, 0, 0]]])),
    )
    return metric


def test_person_ap_matches_one_to_one_in_score_order() -> None:
    # order 0.9 TP, 0.8 FP (P1 taken), 0.75 FP (no person), 0.7 TP up to threshold 0.5:
    # AP = 1/3 * 1 + 1/3 * 1/2 = 1/2; from 0.6 on the 0.7 prediction misses: AP = 1/3
    out = _golden().result()
    assert out["APp50"] == pytest.approx(1 / 2)
    assert out["APp_vol"] == pytest.approx((5 * (1 / 2) + 4 * (1 / 3)) / 9)


def test_region_ap_counts_duplicates_and_needs_iou_strictly_above() -> None:
    # class 1: 0.9 and 0.8 both hit P1's region (no one-to-one), 0.75 misses; 2 regions -> AP 1.
    # class 2: IoU exactly 1/2 -> AP 1 up to threshold 0.4, 0 from 0.5 on.
    out = _golden().result()
    assert out["APr50"] == pytest.approx(1 / 2)
    assert out["APr_vol"] == pytest.approx((4 * 1 + 5 * (1 / 2)) / 9)


def test_ground_truth_as_predictions_scores_one_and_no_truth_is_none() -> None:
    metric = InstanceParsingAP(3)
    persons = np.array([[[1, 2, 0]], [[0, 0, 1]]])
    regions = (np.array([1, 2, 1]), np.stack([persons[0] == 1, persons[0] == 2, persons[1] == 1]))
    metric.add(persons, regions, (np.array([0.5, 0.4]), persons))
    assert all(v == pytest.approx(1.0) for v in metric.result().values())
    empty = InstanceParsingAP(3).result()
    assert empty == {"APp50": None, "APp_vol": None, "APr50": None, "APr_vol": None}
