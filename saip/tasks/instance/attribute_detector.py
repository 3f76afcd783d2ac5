"""Instance detection with localized attributes: Mask R-CNN plus a multi-label head per instance.

Why on the box head's features: the attribute of a garment (its pattern, its length) is read
from the same ROI features that classify and box it (torchvision's `box_roi_pool` then
`box_head`), so the attribute head is one linear layer on the 1024-d representation of each box:
the true boxes during training (binary cross-entropy over the file's attribute list), the
detected boxes at evaluation (sigmoid probabilities, returned as `attributes` [N, A] beside
torchvision's boxes, labels, scores and masks).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN

from saip.tasks.instance.detector import detector_pass


class AttributeDetector(nn.Module):
    """`forward(images, targets)`: training -> loss terms (torchvision's five and
    `loss_attributes`); eval -> torchvision's detections at the original sizes plus `attributes`."""

    def __init__(self, detector: MaskRCNN, num_attributes: int) -> None:
        super().__init__()
        self.detector = detector
        width = detector.roi_heads.box_predictor.cls_score.in_features
        self.attributes = nn.Linear(width, num_attributes)

    def _logits(self, maps: Any, boxes: list[Tensor], sizes: list[tuple[int, int]]) -> Tensor:
        heads = self.detector.roi_heads
        return self.attributes(heads.box_head(heads.box_roi_pool(maps, boxes, sizes)))

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:
        sizes = [(int(i.shape[-2]), int(i.shape[-1])) for i in images]
        out = detector_pass(self.detector, images, targets)
        with torch.autocast(images[0].device.type, enabled=False):
            if self.training:
                assert out.targets is not None
                boxes = [t["boxes"] for t in out.targets]
                logits = self._logits(out.maps, boxes, out.batch.image_sizes)
                truth = torch.cat([t["attributes"] for t in out.targets])
                bce = F.binary_cross_entropy_with_logits(logits, truth) if len(truth) else logits.sum() * 0
                return {**out.losses, "loss_attributes": bce}
            boxes = [d["boxes"] for d in out.detections]
            probs = torch.sigmoid(self._logits(out.maps, boxes, out.batch.image_sizes))
            for det, p in zip(out.detections, probs.split([len(b) for b in boxes]), strict=True):
                det["attributes"] = p
        return self.detector.transform.postprocess(out.detections, out.batch.image_sizes, sizes)
