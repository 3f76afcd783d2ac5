"""CrowdHuman's three detection metrics: AP at IoU 0.5, log-average miss rate MR^-2, and JI.

Defined as the CrowdHuman toolkit (Shao et al. 2018) and mmdetection's `CrowdHumanMetric` compute
them (read, not copied), including their quirks, so numbers compare with published ones:

- AP and MR-2 share one Caltech-style matching per image: detections in descending score order
  each take the unmatched ground truth of highest IoU, strictly above 0.5; a detection left
  without one but covering an ignore region (IoA > 0.5) is dropped, any other one is a false
  positive. AP is the trapezoid over the (recall, precision) points of the score-sorted
  detections, starting at the first detection, not at recall 0 (so ground truth given as
  detections scores (G - 1) / G). MR-2 takes, at each of the 9 FPPI references 10^-2..10^0, the
  miss rate of the first point whose FPPI >= the reference (the last point when none is), and
  averages them in log space.
- JI: at each score threshold 0.0, 0.1, ..., 0.9 (detections scoring strictly above it), a
  maximum bipartite matching between detections and ground truth at IoU >= 0.5 gives k pairs per
  image; unmatched detections and unmatched ground truth inside ignore regions (IoA > 0.5) are
  dropped from n and m; the per-image k / (m + n - k) is averaged over the images with m + n > 0;
  JI is the best threshold's mean.

Boxes are [x1, y1, x2, y2] in image pixels, already clipped to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

IOU = 0.5  # match and ignore-region threshold of all three metrics
MR_REFERENCES = np.logspace(-2.0, 0.0, 9)  # 0.0100, 0.0178, ..., 1.0000 false positives per image
JI_THRESHOLDS = [i / 10 for i in range(10)]


def _empty() -> np.ndarray:
    return np.zeros((0, 4))


@dataclass
class ImageBoxes:
    """One image's boxes: targets `gt` [G, 4], ignore regions `ignore` [I, 4], detections `dt`
    [D, 4] with `scores` [D]."""

    gt: np.ndarray = field(default_factory=_empty)
    ignore: np.ndarray = field(default_factory=_empty)
    dt: np.ndarray = field(default_factory=_empty)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return (rb - lt).clip(0).prod(-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A, B] intersection over union."""
    inter = _intersection(a, b)
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_ioa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A, B] intersection over the area of each `a` box (how much of `a` lies inside `b`)."""
    area = _area(a)[:, None]
    return np.where(area > 0, _intersection(a, b) / np.maximum(area, 1e-12), 0.0)


def _in_ignore(boxes: np.ndarray, ignore: np.ndarray) -> np.ndarray:
    """[N] whether each box lies inside some ignore region (IoA > 0.5)."""
    if not len(boxes) or not len(ignore):
        return np.zeros(len(boxes), dtype=bool)
    return box_ioa(boxes, ignore).max(1) > IOU


def caltech_match(image: ImageBoxes) -> tuple[np.ndarray, np.ndarray]:
    """(scores, 1 = true / 0 = false positive) of the detections kept, in descending score order."""
    order = np.argsort(-image.scores, kind="stable")
    dt, scores = image.dt[order], image.scores[order]
    iou = box_iou(dt, image.gt) if len(dt) and len(image.gt) else np.zeros((len(dt), len(image.gt)))
    ignored = _in_ignore(dt, image.ignore)
    taken = np.zeros(len(image.gt), dtype=bool)
    keep, labels = [], []
    for i in range(len(dt)):
        candidates = np.where(taken, -1.0, iou[i]) if len(image.gt) else np.zeros(0)
        if len(candidates) and candidates.max() > IOU:
            taken[candidates.argmax()] = True
            keep.append(i)
            labels.append(1)
        elif not ignored[i]:
            keep.append(i)
            labels.append(0)
    return scores[keep], np.asarray(labels, dtype=np.int64)


def _curve(images: list[ImageBoxes]) -> tuple[np.ndarray, np.ndarray, int]:
    """Cumulative true and false positives over all images' kept detections by score, and G."""
    matched = [caltech_match(image) for image in images]
    scores = np.concatenate([s for s, _ in matched]) if matched else np.zeros(0)
    labels = np.concatenate([lab for _, lab in matched]) if matched else np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    labels = labels[order]
    return np.cumsum(labels), np.cumsum(1 - labels), sum(len(image.gt) for image in images)


def average_precision(tp: np.ndarray, fp: np.ndarray, num_gt: int) -> float | None:
    """Trapezoid over the (recall, precision) points; None without ground truth."""
    if num_gt == 0:
        return None
    if not len(tp):
        return 0.0
    recall, precision = tp / num_gt, tp / (tp + fp)
    return float(np.sum(np.diff(recall) * (precision[1:] + precision[:-1]) / 2))


def log_average_miss_rate(tp: np.ndarray, fp: np.ndarray, num_gt: int, num_images: int) -> float | None:
    """Geometric mean of the miss rates at the 9 FPPI references; 1.0 with no detection at all."""
    if num_gt == 0:
        return None
    if not len(tp):
        return 1.0
    fppi, miss = fp / num_images, 1.0 - tp / num_gt
    at = [int(np.argmax(fppi >= ref)) if (fppi >= ref).any() else len(fppi) - 1 for ref in MR_REFERENCES]
    rates = miss[at]
    if (rates <= 0).any():  # log(0): a zero miss rate at any reference makes the mean 0
        return 0.0
    return float(math.exp(np.log(rates).mean()))


def _max_matching(dt: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a maximum-cardinality matching of pairs with IoU >= 0.5 (not the greedy one)."""
    if not len(dt) or not len(gt):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    edges = (box_iou(dt, gt) >= IOU).astype(np.float64)
    rows, cols = linear_sum_assignment(edges, maximize=True)
    real = edges[rows, cols] > 0
    return rows[real], cols[real]


def image_ji(image: ImageBoxes, threshold: float) -> tuple[int, int, int]:
    """(k, m, n) of one image with the detections scoring above `threshold`."""
    dt = image.dt[image.scores > threshold]
    rows, cols = _max_matching(dt, image.gt)
    free_dt = np.setdiff1d(np.arange(len(dt)), rows)
    free_gt = np.setdiff1d(np.arange(len(image.gt)), cols)
    n = len(dt) - int(_in_ignore(dt[free_dt], image.ignore).sum())
    m = len(image.gt) - int(_in_ignore(image.gt[free_gt], image.ignore).sum())
    return len(rows), m, n


def jaccard_index(images: list[ImageBoxes]) -> float | None:
    """Best mean per-image k / (m + n - k) over the score thresholds; None when no image has boxes."""
    best = None
    for threshold in JI_THRESHOLDS:
        ratios = [k / (m + n - k) for k, m, n in (image_ji(im, threshold) for im in images) if m + n > 0]
        if ratios:
            best = max(best or 0.0, float(np.mean(ratios)))
    return best


def crowdhuman_metrics(images: list[ImageBoxes]) -> dict[str, float | None]:
    """{"AP", "MR-2", "JI"} over a set, each a fraction in 0..1 (None where undefined)."""
    tp, fp, num_gt = _curve(images)
    return {
        "AP": average_precision(tp, fp, num_gt),
        "MR-2": log_average_miss_rate(tp, fp, num_gt, max(len(images), 1)),
        "JI": jaccard_index(images),
    }
