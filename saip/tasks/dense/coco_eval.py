"""OKS average precision through pycocotools, for COCO person keypoints and COCO-WholeBody.

Why pycocotools for both: COCO-WholeBody's official evaluation (xtcocotools) is COCO's `COCOeval`
run once per part on that part's points, with the part's sigmas, the person's segmentation area,
a ground truth ignored when none of the part's points is labelled, and a prediction skipped when
all of the part's scores are zero. Feeding pycocotools those per-part views gives the same numbers
without another compiled dependency. `AP_hand` is the mean of the left- and right-hand APs (the
official tool scores the two hands separately).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from saip.tasks.dense.keypoints import KeypointSet, Part

log = logging.getLogger(__name__)

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def make_result(image_id: int, points: np.ndarray, score: float, kpset: KeypointSet) -> dict[str, Any]:
    """One COCO results entry for a person: points [K, 3] (x, y, confidence) in image pixels."""
    return {
        "image_id": int(image_id),
        "category_id": 1,
        "score": round(float(score), 5),
        **kpset.scatter(points),
    }


def save_results(results: list[dict[str, Any]], path: Path) -> Path:
    """Write results compactly (a COCO val set is ~6k people x 133 points) via a temporary file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, separators=(",", ":")))
    os.replace(tmp, path)
    return path


def _part_view(
    gt: dict[str, Any], results: list[dict[str, Any]], parts: tuple[Part, ...], num: int, skip_unscored: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ground truth and results whose `keypoints` hold only `parts`' points, concatenated; with
    `skip_unscored`, results whose part scores are all 0 are dropped (xtcocotools' whole-body rule)."""

    def points(entry: dict[str, Any]) -> list[float]:
        return [v for p in parts for v in entry.get(p.key) or [0.0] * (3 * (p.stop - p.start))]

    view = {k: v for k, v in gt.items() if k not in ("annotations", "categories")}
    view["annotations"] = []
    for ann in gt["annotations"]:
        kpts = points(ann)
        view["annotations"].append(
            {
                **{k: v for k, v in ann.items() if not k.endswith("kpts")},
                "keypoints": kpts,
                "num_keypoints": int(np.count_nonzero(np.asarray(kpts[2::3]))),
            }
        )
    view["categories"] = [
        {**copy.deepcopy(c), "keypoints": [f"p{i}" for i in range(num)], "skeleton": []}
        for c in gt["categories"]
    ]
    dets = []
    for res in results:
        kpts = points(res)
        if not skip_unscored or np.count_nonzero(np.asarray(kpts[2::3])):
            dets.append(
                {
                    "image_id": res["image_id"],
                    "category_id": res["category_id"],
                    "keypoints": kpts,
                    "score": res["score"],
                }
            )
    return view, dets


def _coco_eval(gt: dict[str, Any], results: list[dict[str, Any]], sigmas: np.ndarray) -> list[float | None]:
    """The ten COCOeval keypoint stats; None where COCOeval has nothing to measure (-1)."""
    if not results:
        return [0.0] * len(STAT_NAMES)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_eval = COCOeval(coco_gt, coco_gt.loadRes(results), "keypoints")
        coco_eval.params.kpt_oks_sigmas = sigmas
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    log.debug("%s", out.getvalue())
    return [float(v) if v >= 0 else None for v in coco_eval.stats]


def evaluate_keypoints(
    gt: dict[str, Any], results: list[dict[str, Any]], kpset: KeypointSet
) -> dict[str, Any]:
    """OKS metrics of `results` (COCO results format of `kpset`) against the annotation dict `gt`.

    COCO: `AP`, `AP50`, `AP75`, `APm`, `APl`, `AR` (and AR50/75/m/l). WholeBody: the same from the
    133-point evaluation, plus `AP_<part>` / `AR_<part>` for body, foot, face, lefthand, righthand,
    `AP_hand` and `AP_wholebody`.
    """
    sigmas = np.asarray(kpset.sigmas)
    wholebody = len(kpset.parts) > 1
    view, dets = _part_view(gt, results, kpset.parts, kpset.num, skip_unscored=wholebody)
    metrics: dict[str, Any] = dict(zip(STAT_NAMES, _coco_eval(view, dets, sigmas), strict=True))
    if not wholebody:
        return metrics
    metrics["AP_wholebody"], metrics["AR_wholebody"] = metrics["AP"], metrics["AR"]
    for part in kpset.parts:
        view, dets = _part_view(gt, results, (part,), part.stop - part.start, skip_unscored=True)
        stats = dict(zip(STAT_NAMES, _coco_eval(view, dets, sigmas[part.start : part.stop]), strict=True))
        metrics[f"AP_{part.name}"], metrics[f"AR_{part.name}"] = stats["AP"], stats["AR"]
    hands = [metrics[f"AP_{side}hand"] for side in ("left", "right") if metrics[f"AP_{side}hand"] is not None]
    metrics["AP_hand"] = sum(hands) / len(hands) if hands else None
    return metrics
