"""Golden CrowdHuman metric cases computed by hand, and ground truth given as detections."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saip.tasks.instance.crowd_metrics import (
    ImageBoxes,
    average_precision,
    caltech_match,
    crowdhuman_metrics,
    image_ji,
    jaccard_index,
    log_average_miss_rate,
)


def boxes(*rows: list[float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def test_caltech_matching_keeps_the_best_unmatched_drops_ignored_and_needs_iou_above_half() -> None:
    image = ImageBoxes(
        gt=boxes([0, 0, 10, 10], [20, 0, 30, 10]),
        ignore=boxes([50, 0, 70, 20]),
        dt=boxes(
            [0, 0, 10, 10],  # .9: true positive on the first person
            [1, 0, 11, 10],  # .8: the same person again, already taken: false positive
            [55, 5, 60, 10],  # .7: inside the ignore region: dropped
            [20, 0, 25, 10],  # .6: IoU exactly 0.5 with the second person: not a match
        ),
        scores=np.array([0.9, 0.8, 0.7, 0.6]),
    )
    scores, labels = caltech_match(image)
    assert scores.tolist() == [0.9, 0.8, 0.6] and labels.tolist() == [1, 0, 0]


def test_ap_and_mr_by_hand() -> None:
    # 4 ground truths over 4 images, kept detections by score: TP FP TP TP FP
    labels = np.array([1, 0, 1, 1, 0])
    tp, fp = np.cumsum(labels), np.cumsum(1 - labels)
    # (recall, precision): (1/4, 1) (1/4, 1/2) (1/2, 2/3) (3/4, 3/4) (3/4, 3/5); the trapezoid
    # starts at the first point: 1/4 (1/2 + 2/3) / 2 + 1/4 (2/3 + 3/4) / 2 = 31/96
    assert average_precision(tp, fp, 4) == pytest.approx(31 / 96)
    # FPPI 0 .25 .25 .25 .5, miss rate .75 .75 .5 .25 .25: the six references <= 0.1778 hit the
    # first FPPI >= them (.25, miss .75), 0.3162 hits .5 (miss .25), 0.5623 and 1.0 none (last, .25)
    expected = math.exp((6 * math.log(0.75) + 3 * math.log(0.25)) / 9)
    assert log_average_miss_rate(tp, fp, 4, 4) == pytest.approx(expected)


def test_ground_truth_as_detections() -> None:
    gts = [boxes([0, 0, 10, 20], [30, 0, 40, 20]), boxes([5, 5, 15, 30])]
    ignore = boxes([60, 0, 80, 40])
    images = [ImageBoxes(gt=g, ignore=ignore, dt=g, scores=np.ones(len(g))) for g in gts]
    metrics = crowdhuman_metrics(images)
    # three true positives: (1/3, 1) (2/3, 1) (1, 1) -> the toolkit's trapezoid gives 2/3, not 1
    assert metrics["AP"] == pytest.approx(2 / 3)
    assert metrics["MR-2"] == 0.0  # no false positive: every reference reads the last point, miss 0
    assert metrics["JI"] == pytest.approx(1.0)


def test_no_detections() -> None:
    metrics = crowdhuman_metrics([ImageBoxes(gt=boxes([0, 0, 10, 10]))])
    assert metrics == {"AP": 0.0, "MR-2": 1.0, "JI": 0.0}
    assert crowdhuman_metrics([ImageBoxes()]) == {"AP": None, "MR-2": None, "JI": None}


def test_ji_by_hand() -> None:
    one = ImageBoxes(
        gt=boxes([0, 0, 10, 10], [20, 0, 30, 10]),
        ignore=boxes([50, 0, 70, 20]),
        dt=boxes([0, 0, 10, 10], [20, 0, 30, 10], [100, 0, 110, 10], [52, 2, 60, 10]),
        scores=np.array([0.9, 0.3, 0.6, 0.8]),
    )
    two = ImageBoxes(gt=boxes([0, 0, 10, 10]), dt=boxes([0, 0, 10, 10]), scores=np.array([0.5]))
    # image one: t < .3: k 2, m 2, n 3 (the ignored detection is dropped) -> 2/3;
    # .3 <= t < .6: k 1, n 2 -> 1/3; .6 <= t < .9: k 1, n 1 -> 1/2; t = .9: 0
    assert image_ji(one, 0.0) == (2, 2, 3)
    assert image_ji(one, 0.3) == (1, 2, 2)
    assert image_ji(one, 0.9) == (0, 2, 0)
    # image two: 1 below .5, then 0 (m 1, n 0); best mean at t = 0: (2/3 + 1) / 2
    assert jaccard_index([one, two]) == pytest.approx(5 / 6)


def test_ji_matching_is_maximum_not_greedy_and_drops_unmatched_truth_in_ignore() -> None:
    # d1 overlaps both people at IoU 9/11; d2 only the first (7/13): greedy d1-g1 leaves d2 alone
    gt = boxes([0, 0, 10, 10], [2, 0, 12, 10])
    dt = boxes([1, 0, 11, 10], [-3, 0, 7, 10])
    image = ImageBoxes(gt=gt, dt=dt, scores=np.array([0.9, 0.8]))
    assert image_ji(image, 0.0) == (2, 2, 2)
    hidden = ImageBoxes(
        gt=boxes([0, 0, 10, 10], [40, 0, 50, 10]),
        ignore=boxes([35, 0, 55, 20]),
        dt=boxes([0, 0, 10, 10]),
        scores=np.array([0.9]),
    )
    assert image_ji(hidden, 0.0) == (1, 1, 1)
