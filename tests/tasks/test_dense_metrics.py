"""Golden metric cases: a known confusion matrix, OKS AP by hand, ground truth as predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from saip.tasks.dense.coco_eval import evaluate_keypoints, make_result
from saip.tasks.dense.keypoints import COCO_BODY, COCO_WHOLEBODY, KeypointSet
from saip.tasks.dense.seg_metrics import ConfusionMatrix, segmentation_metrics


def test_known_confusion_matrix() -> None:
    # rows truth, columns prediction; class 3 never appears (null), class 2 only predicted (IoU 0)
    counts = torch.tensor([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    m = segmentation_metrics(counts)
    iou0, iou1 = 5 / (6 + 7 - 5), 3 / (6 + 4 - 3)
    assert m["per_class_iou"] == pytest.approx([iou0, iou1, 0.0, None])
    assert m["mIoU"] == pytest.approx((iou0 + iou1 + 0.0) / 3)
    assert m["pixel_acc"] == pytest.approx(8 / 12)
    assert m["mean_acc"] == pytest.approx((5 / 6 + 3 / 6) / 2)


def test_confusion_accumulates_and_ignores() -> None:
    cm = ConfusionMatrix(3, ignore=255)
    cm.update(torch.tensor([[0, 1], [2, 2]]), torch.tensor([[0, 1], [1, 255]]))
    cm.update(torch.tensor([0]), torch.tensor([2]))
    assert cm.counts.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="outside"):
        cm.update(torch.tensor([0]), torch.tensor([7]))
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(2, 2), torch.zeros(2, 3))


def _gt(kpset: KeypointSet, people: list[np.ndarray], areas: list[float]) -> dict:
    anns = []
    for i, (points, area) in enumerate(zip(people, areas, strict=True)):
        labelled = points[points[:, 2] > 0]
        x0, y0 = labelled[:, :2].min(0)
        x1, y1 = labelled[:, :2].max(0)
        anns.append(
            {
                "id": i + 1,
                "image_id": 1 + i % 2,
                "category_id": 1,
                "iscrowd": 0,
                "area": area,
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "num_keypoints": int((points[:17, 2] > 0).sum()),
                **kpset.scatter(points),
            }
        )
    return {
        "images": [
            {"id": 1, "width": 640, "height": 480, "file_name": "1.jpg"},
            {"id": 2, "width": 640, "height": 480, "file_name": "2.jpg"},
        ],
        "annotations": anns,
        "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}],
    }


def _people(kpset: KeypointSet, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    people = []
    for _ in range(n):
        points = np.zeros((kpset.num, 3))
        points[:, :2] = rng.uniform(50, 400, (kpset.num, 2))
        points[:, 2] = rng.choice([0, 1, 2], kpset.num, p=[0.2, 0.3, 0.5])
        points[0, 2] = 2
        people.append(points)
    return people


def _as_predictions(kpset: KeypointSet, gt: dict) -> list[dict]:
    """Ground truth through the same path as the model's output: [K, 3] (x, y, confidence)."""
    results = []
    for ann in gt["annotations"]:
        points = kpset.gather(ann)
        points[:, 2] = (points[:, 2] > 0).astype(float)
        results.append(make_result(ann["image_id"], points, 1.0, kpset))
    return results


@pytest.mark.parametrize("kpset", [COCO_BODY, COCO_WHOLEBODY], ids=lambda k: k.name)
def test_ground_truth_as_predictions_is_perfect(kpset: KeypointSet) -> None:
    people = _people(kpset, 4)
    people[1][91:112, 2] = 0  # a person whose left hand is not labelled: skipped, not a false positive
    gt = _gt(kpset, people, areas=[30_000.0, 60_000.0, 2_000.0, 40_000.0])
    metrics = evaluate_keypoints(gt, _as_predictions(kpset, gt), kpset)
    keys = ["AP", "AP50", "AP75", "AR"] + (
        ["AP_body", "AP_foot", "AP_face", "AP_hand", "AP_wholebody"] if kpset is COCO_WHOLEBODY else []
    )
    for key in keys:
        assert metrics[key] == pytest.approx(1.0), key


def test_oks_ap_by_hand() -> None:
    """One person, one labelled point moved by d: OKS = exp(-d^2 / (2 area (2 sigma)^2)) = 0.72,
    so it matches at thresholds 0.50..0.70 (5 of 10): AP 0.5, AP50 1, AP75 0."""
    area = 10_000.0
    points = np.zeros((17, 3))
    points[:, :2] = 100.0
    points[0] = [120.0, 130.0, 2]
    gt = _gt(COCO_BODY, [points], [area])
    gt["annotations"][0]["bbox"] = [80.0, 80.0, 100.0, 100.0]
    d = math.sqrt(-math.log(0.72) * 2 * area * (2 * COCO_BODY.sigmas[0]) ** 2)
    pred = points.copy()
    pred[:, 2] = 1.0
    pred[0, 0] += d
    metrics = evaluate_keypoints(gt, [make_result(1, pred, 0.9, COCO_BODY)], COCO_BODY)
    assert metrics["AP"] == pytest.approx(0.5)
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(0.0)
    assert metrics["APl"] == pytest.approx(0.5) and metrics["APm"] is None  # 10k > 96^2: large, no medium


def test_no_predictions_scores_zero() -> None:
    gt = _gt(COCO_BODY, _people(COCO_BODY, 1), [5000.0])
    assert evaluate_keypoints(gt, [], COCO_BODY)["AP"] == 0.0


def test_keypoint_sets_are_consistent() -> None:
    for kpset in (COCO_BODY, COCO_WHOLEBODY):
        index = kpset.flip_index()
        assert sorted(index) == list(range(kpset.num))
        assert (index[index] == np.arange(kpset.num)).all()  # an involution
        # mirror body points and hands share sigmas (the published foot and face ones do not)
        assert all(kpset.sigmas[a] == kpset.sigmas[b] for a, b in kpset.pairs if a < 17 or a >= 91)
        assert kpset.parts[-1].stop == kpset.num
        points = np.arange(kpset.num * 3, dtype=float).reshape(-1, 3)
        assert np.array_equal(kpset.gather(kpset.scatter(points)), points)
    assert COCO_WHOLEBODY.num == 133 and COCO_WHOLEBODY.flip_index()[91] == 112
