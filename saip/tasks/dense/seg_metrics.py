"""Part-segmentation metrics from one confusion matrix accumulated over the whole set.

Why one matrix: mIoU over a set is the IoU of summed counts, not the mean of per-image IoUs (the
LIP / CIHP convention, as in CE2P and mmsegmentation's `IoUMetric`).
"""

from __future__ import annotations

import torch
from torch import Tensor


class ConfusionMatrix:
    """Counts [C, C] (row: truth, column: prediction); labels equal to `ignore` are skipped."""

    def __init__(self, num_classes: int, ignore: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore = ignore
        self.counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: Tensor, truth: Tensor) -> None:
        """Add class maps of equal shape (any shape, integer classes)."""
        if pred.shape != truth.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and truth {tuple(truth.shape)} differ in shape")
        keep = truth != self.ignore
        truth, pred = truth[keep].long().cpu(), pred[keep].long().cpu()
        bad = (truth < 0) | (truth >= self.num_classes)
        if bad.any():
            raise ValueError(
                f"truth labels outside 0..{self.num_classes - 1} (and ignore {self.ignore}): "
                f"{sorted(set(truth[bad].tolist()))[:5]}"
            )
        flat = truth * self.num_classes + pred.clamp(0, self.num_classes - 1)
        self.counts += torch.bincount(flat, minlength=self.num_classes**2).view(
            self.num_classes, self.num_classes
        )


def segmentation_metrics(counts: Tensor) -> dict[str, float | list[float | None]]:
    """`mIoU`, `pixel_acc`, `mean_acc`, `per_class_iou` (None for a class absent from both truth and
    prediction; mIoU and mean accuracy average over the defined entries only)."""
    counts = counts.double()
    tp = counts.diag()
    truth, pred = counts.sum(1), counts.sum(0)
    union = truth + pred - tp
    iou = [float(t / u) if u > 0 else None for t, u in zip(tp, union, strict=True)]
    defined = [v for v in iou if v is not None]
    acc = [float(t / n) for t, n in zip(tp, truth, strict=True) if n > 0]
    total = float(counts.sum())
    return {
        "mIoU": sum(defined) / len(defined) if defined else 0.0,
        "pixel_acc": float(tp.sum()) / total if total else 0.0,
        "mean_acc": sum(acc) / len(acc) if acc else 0.0,
        "per_class_iou": iou,
    }
