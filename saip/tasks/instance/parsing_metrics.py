"""Instance-level human parsing metrics on CIHP: APp (person level) and APr (part-region level).

Defined as the reference code computes them (read, not copied), quirks included, so numbers
compare with published ones:

- **APp** (Zhao et al., MHP v2.0; the `APp50` / `APp_vol` that Parsing R-CNN and later work report
  on CIHP): a predicted person is a full-image part map (0 outside the person). Its overlap with a
  true person is the mean, over the classes (background included) whose union is not empty, of
  the per-class IoU between the two maps. Predictions of all images in descending score order each
  take the true person of their image with the highest overlap; a true positive when that overlap
  is **strictly above** the threshold and that person is not yet taken, else a false positive (no
  fall-back to the second best). AP is VOC's all-point interpolated area; `APp_vol` averages the
  9 thresholds 0.1, 0.2, ..., 0.9, `APp50` is the one at 0.5.
- **APr** (Gong et al., PGN, ECCV 2018, `evaluation/test_inst_part_ap.py`): per part class, the
  regions are (person, class) masks, a prediction's score being its person's. Each predicted
  region takes its highest mask IoU over the true regions of its class in its image and is a true
  positive when that is strictly above the threshold, **with no one-to-one matching** (two
  predictions of one region both count). Per-class VOC AP, averaged over the classes with a true
  region (PGN's code divides by zero on the others); `APr_vol` averages the 9 thresholds,
  `APr50` is the one at 0.5.

Ties in score keep the order in which images (and predictions in an image) were added.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = tuple(round(0.1 * k, 1) for k in range(1, 10))  # 0.1 .. 0.9


def voc_ap(tp: np.ndarray, fp: np.ndarray, num_gt: int) -> float:
    """VOC's all-point interpolated AP of score-sorted 0/1 `tp`, `fp` flags over `num_gt` targets."""
    tp_sum, fp_sum = np.cumsum(tp), np.cumsum(fp)
    recall = np.concatenate([[0.0], tp_sum / num_gt, [1.0]])
    precision = np.concatenate([[0.0], tp_sum / np.maximum(tp_sum + fp_sum, np.finfo(np.float64).eps), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the precision envelope
    step = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[step + 1] - recall[step]) * precision[step + 1]))


def part_overlap(pred: np.ndarray, truth: np.ndarray, num_classes: int) -> float:
    """APp's overlap of two part maps [H, W]: mean per-class IoU, background included, over the
    classes present in either map. Counted on the box around both people (the pixels outside it
    are background in both, added to the background cell), which gives the full-image value."""
    support = (pred > 0) | (truth > 0)
    if not support.any():
        return 1.0
    rows, cols = np.flatnonzero(support.any(1)), np.flatnonzero(support.any(0))
    window = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    t, p = truth[window].astype(np.int64).ravel(), pred[window].astype(np.int64).ravel()
    hist = np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)
    hist = hist.astype(np.float64)
    hist[0, 0] += truth.size - t.size
    inter = np.diag(hist)
    union = hist.sum(0) + hist.sum(1) - inter
    return float(np.mean(inter[union > 0] / union[union > 0]))


def _mask_iou(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """IoU [P, G] between boolean masks pred [P, H, W] and truth [G, H, W]."""
    p, g = pred.reshape(len(pred), -1).astype(np.float64), truth.reshape(len(truth), -1).astype(np.float64)
    inter = p @ g.T
    return inter / (p.sum(1)[:, None] + g.sum(1)[None, :] - inter)


class InstanceParsingAP:
    """Accumulates APp and APr image by image (only per-prediction overlaps are kept, not maps).

    `add(persons, regions, predictions)`:
    - `persons` [G, H, W]: each true person's part map (class ids, 0 outside the person);
    - `regions`: the true part regions as (class [R], masks [R, H, W] bool);
    - `predictions`: (scores [P], part maps [P, H, W]), one per predicted person.
    """

    def __init__(self, num_classes: int, thresholds: tuple[float, ...] = THRESHOLDS) -> None:
        self.num_classes = num_classes
        self.thresholds = np.asarray(thresholds)
        self.num_persons = 0
        self.person_scores: list[float] = []
        self.person_tp: list[np.ndarray] = []  # [T] flags per prediction
        self.region_counts = np.zeros(num_classes, dtype=np.int64)
        self.region_class: list[int] = []
        self.region_scores: list[float] = []
        self.region_iou: list[float] = []

    def add(
        self,
        persons: np.ndarray,
        regions: tuple[np.ndarray, np.ndarray],
        predictions: tuple[np.ndarray, np.ndarray],
    ) -> None:
        scores, maps = predictions
        self.num_persons += len(persons)
        # Matching is per image, so deciding it here in score order equals doing it globally.
        taken = np.zeros((len(self.thresholds), len(persons)), dtype=bool)
        for k in np.argsort(-scores, kind="stable"):
            flags = np.zeros(len(self.thresholds), dtype=bool)
            if len(persons):
                overlaps = [part_overlap(maps[k], person, self.num_classes) for person in persons]
                best = int(np.argmax(overlaps))
                flags = (overlaps[best] > self.thresholds) & ~taken[:, best]
                taken[flags, best] = True
            self.person_scores.append(float(scores[k]))
            self.person_tp.append(flags)
        region_class, region_masks = regions
        self.region_counts += np.bincount(region_class, minlength=self.num_classes)
        present_classes = np.flatnonzero(np.bincount(maps.ravel(), minlength=self.num_classes)[1:]) + 1
        for c in present_classes:  # one pass over the maps, then only the classes predicted
            masks = maps == c  # [P, H, W]
            present = np.flatnonzero(masks.reshape(len(maps), -1).any(1))
            if not present.size:
                continue
            truth = region_masks[region_class == c]
            best = _mask_iou(masks[present], truth).max(1) if len(truth) else np.zeros(present.size)
            self.region_class += [c] * present.size
            self.region_scores += scores[present].tolist()
            self.region_iou += best.tolist()

    def _person_ap(self) -> list[float] | None:
        if not self.num_persons:
            return None
        order = np.argsort(-np.asarray(self.person_scores), kind="stable")
        tp = np.asarray(self.person_tp, dtype=np.float64).reshape(-1, len(self.thresholds))[order]
        return [voc_ap(tp[:, j], 1.0 - tp[:, j], self.num_persons) for j in range(len(self.thresholds))]

    def _region_ap(self) -> list[float] | None:
        classes = [c for c in range(1, self.num_classes) if self.region_counts[c] > 0]
        if not classes:
            return None
        cls, scores, iou = map(np.asarray, (self.region_class, self.region_scores, self.region_iou))
        per_class = []
        for c in classes:
            keep = np.flatnonzero(cls == c) if cls.size else np.zeros(0, dtype=np.int64)
            ordered = iou[keep[np.argsort(-scores[keep], kind="stable")]] if keep.size else np.zeros(0)
            hits = ordered[:, None] > self.thresholds[None, :]  # [N, T]
            per_class.append(
                [
                    voc_ap(hits[:, j], ~hits[:, j], int(self.region_counts[c]))
                    for j in range(len(self.thresholds))
                ]
            )
        return np.mean(per_class, axis=0).tolist()

    def result(self) -> dict[str, float | None]:
        """`APp50`, `APp_vol`, `APr50`, `APr_vol` (None without any true person / region)."""
        at50 = int(np.argmin(np.abs(self.thresholds - 0.5)))
        out: dict[str, float | None] = {}
        for name, aps in (("APp", self._person_ap()), ("APr", self._region_ap())):
            out[f"{name}50"] = None if aps is None else aps[at50]
            out[f"{name}_vol"] = None if aps is None else float(np.mean(aps))
        return out
