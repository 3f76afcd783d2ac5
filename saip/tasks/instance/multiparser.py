"""Multi-human parsing model: Mask R-CNN people and a semantic part map from one backbone pass.

Why this split: CIHP asks for every person's part map. Person instances come from torchvision's
Mask R-CNN on the shared detector adaptor; the part classes come from the parsing head of
`saip eval parsing` (`PartHead`), reading the backbone's final and intermediate maps of the same
pass (`BackbonePyramid.forward_with_taps`). A person's parsing is then the part map inside its
instance mask: grouping by masks, as in the "detect then segment" baselines of PGN's paper, with
no second backbone pass and no per-person crops.

The part logits come at stride 4 of the detector's resized, padded batch and are cut to each
image's resized extent. Training takes the loss there (cross-entropy, 255 ignored, against the
part map resized by nearest neighbour), at the detector's own resolution, so a large photo costs
no more than its resized self; evaluation resizes the logits to the original size.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN

from saip.tasks.dense.heads import PartHead
from saip.tasks.dense.lip import IGNORE
from saip.tasks.instance.detector import detector_pass


class MultiParser(nn.Module):
    """`forward(images, targets)`: training -> loss terms (torchvision's five and `loss_parts`);
    eval -> (torchvision's detections at the original sizes, part logits [C, H, W] per image).

    `targets` are torchvision's (`boxes`, `labels`, `masks`) plus `parts` [H, W] (class ids)."""

    def __init__(self, detector: MaskRCNN, head: PartHead) -> None:
        super().__init__()
        self.detector = detector
        self.head = head

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:
        sizes = [(int(i.shape[-2]), int(i.shape[-1])) for i in images]
        out = detector_pass(self.detector, images, targets, mid=True)
        resized = [(int(h), int(w)) for h, w in out.batch.image_sizes]
        with torch.autocast(images[0].device.type, enabled=False):  # heads in fp32 (detector.py)
            logits = self.head(out.final, out.mid)
            if self.training:
                assert targets is not None
                ce = [
                    F.cross_entropy(
                        _to_size(logits[i], resized[i]), _nearest(t["parts"], resized[i]), ignore_index=IGNORE
                    )
                    for i, t in enumerate(targets)
                ]
                return {**out.losses, "loss_parts": torch.stack(ce).mean()}
            parts = [_to_size(logits[i], resized[i], sizes[i])[0] for i in range(len(images))]
        return self.detector.transform.postprocess(out.detections, out.batch.image_sizes, sizes), parts


def _to_size(logits: Tensor, resized: tuple[int, int], size: tuple[int, int] | None = None) -> Tensor:
    """Stride-4 logits [C, h, w] of the padded batch -> [1, C, H, W] at `size` (default: the
    image's resized extent)."""
    h, w = resized
    cells = logits[None, :, : math.ceil(h / 4), : math.ceil(w / 4)]
    full = F.interpolate(cells, scale_factor=4, mode="bilinear", align_corners=False)[..., :h, :w]
    if size is None or tuple(size) == (h, w):
        return full
    return F.interpolate(full, size=size, mode="bilinear", align_corners=False)


def _nearest(parts: Tensor, size: tuple[int, int]) -> Tensor:
    """A class map [H, W] -> [1, h, w] by nearest neighbour (class ids never blend)."""
    if tuple(parts.shape) == tuple(size):
        return parts[None]
    return F.interpolate(parts[None, None].float(), size=size, mode="nearest")[0].long()
