"""Fashionpedia's AP with IoU and attribute F1 (FPEval's definition) on hand-computed cases."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from saip.tasks.instance.fashion_metrics import attribute_f1, coco_index, fashion_metrics, iou_f1_ap

# pycocotools' mask code trips a NumPy 2 deprecation warning that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_attribute_f1_is_the_mean_of_positive_and_negative_f1() -> None:
    # truth {b}, predicted {b, c} over (a, b, c): positive F1 2/3, negative F1 2/3
    assert attribute_f1(np.array([0, 1, 0]), np.array([0, 1, 1])) == pytest.approx(2 / 3)
    # truth {a}, nothing predicted: positive F1 0, negative 4/5
    assert attribute_f1(np.array([1, 0, 0]), np.array([0, 0, 0])) == pytest.approx(0.4)
    assert attribute_f1(np.zeros(3), np.zeros(3)) == 1.0  # only the negative label occurs


def _rle(box: list[float], size: tuple[int, int] = (40, 40)) -> dict[str, Any]:
    mask = np.zeros(size, np.uint8)
    x, y, w, h = (int(v) for v in box)
    mask[y : y + h, x : x + w] = 1
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def _gt() -> Any:
    """One 40x40 image: a category-0 instance with attribute 17 (ids 3, 17, 40: not contiguous)
    and a category-1 instance without attributes (so category 1 matches by IoU alone)."""
    boxes = {1: [0.0, 0, 10, 10], 2: [20.0, 0, 10, 10]}
    return coco_index(
        {
            "images": [{"id": 1, "width": 40, "height": 40, "file_name": "a.jpg"}],
            "categories": [{"id": 0, "name": "shirt"}, {"id": 1, "name": "glasses"}],
            "attributes": [{"id": 3, "name": "a"}, {"id": 17, "name": "b"}, {"id": 40, "name": "c"}],
            "annotations": [
                {
                    "id": k,
                    "image_id": 1,
                    "category_id": k - 1,
                    "bbox": box,
                    "area": 100.0,
                    "iscrowd": 0,
                    "segmentation": _rle(box),
                    "attribute_ids": [17] if k == 1 else [],
                }
                for k, box in boxes.items()
            ],
        }
    )


def _det(category: int, box: list[float], score: float, attributes: list[int]) -> dict[str, Any]:
    return {
        "image_id": 1,
        "category_id": category,
        "bbox": box,
        "segmentation": _rle(box),
        "score": score,
        "attribute_ids": attributes,
    }


def test_the_f1_condition_applies_to_categories_with_attributes_only() -> None:
    # shirt found exactly but with F1 2/3: matched at F1 thresholds 0.50..0.65 (4 of 10), for all
    # 10 IoU thresholds -> 40 of its 100 entries are 1; glasses: 10 entries, all 1 -> 50 / 110.
    gt = _gt()
    results = [_det(0, [0.0, 0, 10, 10], 0.9, [17, 40]), _det(1, [20.0, 0, 10, 10], 0.8, [])]
    metrics = fashion_metrics(gt, results)
    assert metrics["AP_box"] == pytest.approx(1.0) and metrics["AP_mask"] == pytest.approx(1.0)
    assert metrics["AP_iou_f1_box"] == pytest.approx(50 / 110)
    assert metrics["AP_iou_f1_mask"] == pytest.approx(50 / 110)


def test_iou_at_the_threshold_counts_and_attribute_ids_must_be_listed() -> None:
    # shirt at IoU exactly 0.5 with exact attributes: only IoU threshold 0.5, all 10 F1 -> 10 of
    # its 100 entries; glasses all 10 -> 20 / 110.
    gt = _gt()
    results = [_det(0, [0.0, 0, 10, 5], 0.9, [17]), _det(1, [20.0, 0, 10, 10], 0.8, [])]
    assert iou_f1_ap(gt, results, "box") == pytest.approx(20 / 110)
    with pytest.raises(ValueError, match="attribute id 5 is not in the attribute list"):
        iou_f1_ap(gt, [_det(0, [0.0, 0, 10, 10], 0.9, [5])], "box")
