"""Fashionpedia's metrics: COCO AP of boxes and masks, and AP with IoU and attribute F1.

`AP_box` / `AP_mask` are pycocotools' COCOeval AP (IoU 0.50:0.05:0.95, area all, 100 detections).
`AP_iou_f1_box` / `AP_iou_f1_mask` follow fashionpedia-api's `FPEval` (read, not copied), quirks
included, so numbers compare with published ones:

- A detection carries a multi-hot attribute vector over the file's attribute list (ids mapped
  through that list, so non-contiguous ids are fine). Its F1 against a true instance is
  scikit-learn's binary macro F1 of the two vectors: the mean of the positive-class and the
  negative-class F1 over the labels that occur in either vector (two empty vectors: 1).
- Per image and category, detections in descending score order (at most 100) each take a true
  instance not yet taken with IoU >= t **and** F1 >= f; among several, FPEval keeps raising both
  bars to the last pair taken (so a later candidate must beat the current one in IoU and in F1).
  The F1 condition applies only to the categories that have attributes (here: the categories with
  at least one attribute on a true instance of the file; Fashionpedia hard-codes its 18); the
  others match by IoU alone. Crowd instances are ignored (Fashionpedia has none).
- COCO's accumulation: all images' detections of a category by score, precision envelope, read at
  the 101 recall points 0, 0.01, ..., 1. `AP_iou_f1` is the mean over IoU thresholds
  0.50:0.05:0.95 crossed with F1 thresholds 0.50:0.05:0.95 for each category with attributes, and
  over the IoU thresholds alone for each one without (so the former weigh 10x), categories with no
  true instance left out.
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

THRESHOLDS = np.linspace(0.5, 0.95, 10)  # IoU and F1 alike
RECALLS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100
IOU_TYPES = {"box": "bbox", "mask": "segm"}


def attribute_f1(truth: np.ndarray, pred: np.ndarray) -> float:
    """Binary macro F1 of two 0/1 vectors over the labels present in either (sklearn's)."""
    truth, pred = truth.astype(bool), pred.astype(bool)
    scores = []
    for label in (False, True):
        t, p = truth == label, pred == label
        if t.any() or p.any():
            tp = np.sum(t & p)
            scores.append(2 * tp / (2 * tp + np.sum(~t & p) + np.sum(t & ~p)))
    return float(np.mean(scores))


def coco_index(dataset: dict[str, Any]) -> COCO:
    """A pycocotools COCO over an already loaded annotation dict (quietly)."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_ap(gt: COCO, results: list[dict[str, Any]], kind: str) -> float | None:
    """pycocotools' AP (its stats[0]) of `results` for `kind` box or mask; None without results."""
    if not results:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(gt, gt.loadRes([dict(r) for r in results]), IOU_TYPES[kind])
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0]) if evaluator.stats[0] >= 0 else None  # -1: no truth


def _geometry(gt: COCO, item: dict[str, Any], kind: str, truth: bool) -> Any:
    if kind == "box":
        return item["bbox"]
    return gt.annToRLE(item) if truth else item["segmentation"]


def _match(ious: np.ndarray, f1s: np.ndarray | None, ignore: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FPEval's greedy matching of score-sorted detections [D] to truths [G] at every (IoU, F1)
    threshold pair: (matched [T, F, D], matched to an ignored truth [T, F, D]); F = 1 without F1."""
    num_f1 = 1 if f1s is None else len(THRESHOLDS)
    matched = np.zeros((len(THRESHOLDS), num_f1, ious.shape[0]), dtype=bool)
    ignored = np.zeros_like(matched)
    order = np.argsort(ignore, kind="stable")  # ignored truths last, as COCOeval
    for ti, t in enumerate(THRESHOLDS):
        for fi in range(num_f1):
            taken = np.zeros(ious.shape[1], dtype=bool)
            for d in range(ious.shape[0]):
                best_iou, best_f1, m = min(t, 1 - 1e-10), min(THRESHOLDS[fi], 1 - 1e-10), -1
                for g in order:
                    if taken[g]:
                        continue
                    if m > -1 and not ignore[m] and ignore[g]:
                        break
                    f1 = 1.0 if f1s is None else f1s[d, g]
                    if ious[d, g] < best_iou or (f1s is not None and f1 < best_f1):
                        continue
                    best_iou, best_f1, m = ious[d, g], f1, g
                if m > -1:
                    taken[m], matched[ti, fi, d], ignored[ti, fi, d] = True, True, ignore[m]
    return matched, ignored


def _precision_at_recalls(tp: np.ndarray, fp: np.ndarray, num_gt: int) -> np.ndarray:
    """COCO's 101-point interpolated precision of score-sorted tp / fp flags."""
    tp_sum, fp_sum = np.cumsum(tp), np.cumsum(fp)
    recall = tp_sum / num_gt
    precision = np.maximum.accumulate((tp_sum / (tp_sum + fp_sum + np.spacing(1)))[::-1])[::-1]
    index = np.searchsorted(recall, RECALLS, side="left")
    return np.where(index < len(precision), precision[np.minimum(index, len(precision) - 1)], 0.0)


def iou_f1_ap(gt: COCO, results: list[dict[str, Any]], kind: str) -> float | None:
    """FPEval's AP with IoU and attribute F1 (see the module docstring); None without truth."""
    attribute_index = {a["id"]: i for i, a in enumerate(gt.dataset["attributes"])}

    def multihot(ids: list[int], where: str) -> np.ndarray:
        vector = np.zeros(len(attribute_index), dtype=bool)
        for a in ids:
            if a not in attribute_index:
                raise ValueError(f"{where}: attribute id {a} is not in the attribute list")
            vector[attribute_index[a]] = True
        return vector

    with_attributes = {a["category_id"] for a in gt.dataset["annotations"] if a.get("attribute_ids")}
    results_by = defaultdict(list)
    for r in results:
        results_by[r["image_id"], r["category_id"]].append(r)
    entries: list[float] = []
    for category in sorted(gt.getCatIds()):
        uses_f1 = category in with_attributes
        per_image = []  # (scores [D], matched [T, F, D], ignored [T, F, D])
        num_gt = 0
        for image in gt.getImgIds():
            truths = gt.loadAnns(gt.getAnnIds(imgIds=image, catIds=category))
            dets = sorted(results_by[image, category], key=lambda r: -r["score"])[:MAX_DETS]
            ignore = np.asarray([bool(t.get("iscrowd", 0)) for t in truths], dtype=bool)
            num_gt += int((~ignore).sum())
            if not dets:
                continue
            if truths:
                ious = mask_utils.iou(
                    [_geometry(gt, d, kind, False) for d in dets],
                    [_geometry(gt, t, kind, True) for t in truths],
                    [0] * len(truths),
                )
                f1s = None
                if uses_f1:
                    true_vectors = [
                        multihot(t.get("attribute_ids", []), f"annotation {t['id']}") for t in truths
                    ]
                    f1s = np.asarray(
                        [
                            [
                                attribute_f1(tv, multihot(d.get("attribute_ids", []), "a detection"))
                                for tv in true_vectors
                            ]
                            for d in dets
                        ]
                    ).reshape(len(dets), len(truths))
                matched, ignored = _match(np.asarray(ious).reshape(len(dets), len(truths)), f1s, ignore)
            else:
                shape = (len(THRESHOLDS), len(THRESHOLDS) if uses_f1 else 1, len(dets))
                matched, ignored = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
            per_image.append((np.asarray([d["score"] for d in dets]), matched, ignored))
        if num_gt == 0:
            continue
        num_f1 = len(THRESHOLDS) if uses_f1 else 1
        if not per_image:
            entries += [0.0] * (len(THRESHOLDS) * num_f1)
            continue
        scores = np.concatenate([p[0] for p in per_image])
        order = np.argsort(-scores, kind="mergesort")
        matched = np.concatenate([p[1] for p in per_image], axis=2)[:, :, order]
        ignored = np.concatenate([p[2] for p in per_image], axis=2)[:, :, order]
        for ti in range(len(THRESHOLDS)):
            for fi in range(num_f1):
                keep = ~ignored[ti, fi]
                tp, fp = matched[ti, fi] & keep, ~matched[ti, fi] & keep
                entries.append(float(np.mean(_precision_at_recalls(tp, fp, num_gt))))
    return float(np.mean(entries)) if entries else None


def fashion_metrics(gt: COCO, results: list[dict[str, Any]]) -> dict[str, float | None]:
    """`AP_box`, `AP_mask`, `AP_iou_f1_box`, `AP_iou_f1_mask` of results carrying `bbox`,
    `segmentation` (RLE), `score` and `attribute_ids`."""
    out: dict[str, float | None] = {}
    for kind in IOU_TYPES:
        out[f"AP_{kind}"] = coco_ap(gt, results, kind)
        out[f"AP_iou_f1_{kind}"] = iou_f1_ap(gt, results, kind)
    return out
