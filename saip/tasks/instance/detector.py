"""The detector adaptor: any saip backbone -> a feature pyramid -> torchvision's Faster R-CNN.

Why this shape: a plain ViT has one stride-16 map, and ViTDet (Li et al., ECCV 2022) showed that a
*simple* pyramid built from that last map alone (deconvolutions up to strides 8 and 4, max-pool
down to 32, then 1x1 + 3x3 convolutions with LayerNorm, and P6 by max-pool) matches a
hierarchical FPN; TinyViT and ConvNeXt-V2 are hierarchical already, so their four stages (strides 4..32) go
through torchvision's FPN. The detector itself is torchvision's Faster R-CNN (a maintained library, not a
hand-written detector), with the two defaults that hurt in crowds changed: `box_detections_per_img`
(100 caps recall on CrowdHuman, which averages 23 people an image) and the 800/1333 resize (sizes
come from the config). Images enter in 0..1 and torchvision's transform normalises them, once,
with the ImageNet statistics the backbones were trained with. Only backbone and pyramid run under
bf16 autocast: torchvision casts proposals to the regression's dtype, and bf16 coordinates are
4 px apart at x = 1000, so RPN and box head stay fp32. Mask R-CNN (`kind="mask_rcnn"`, for
instance masks) plugs into the same `BackbonePyramid`, which also hands out the backbone's final
and intermediate maps of the same pass for dense heads (`forward_with_taps`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import LayerNorm2d
from torch import Tensor, nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from saip.models.backbone import Backbone
from saip.tasks.dense.heads import token_map

LEVELS = ["0", "1", "2", "3"]  # strides 4, 8, 16, 32; torchvision's LastLevelMaxPool adds "pool" (64)


@dataclass
class DetectorConfig:
    # Channels of every pyramid level (ViTDet and torchvision's FPN: 256).
    pyramid_dim: int = 256
    # Shorter image side after resizing, and the cap on the longer side (CrowdHuman: 800 / 1400).
    min_size: int = 800
    max_size: int = 1400
    # One anchor size per pyramid level (strides 4..64), in resized-image pixels.
    anchor_sizes: tuple[int, ...] = (32, 64, 128, 256, 512)
    # Anchor height / width ratios: people are tall (CrowdHuman detectors use 1, 2, 3).
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 3.0)
    # Detections kept per image after NMS; torchvision's 100 caps recall in crowds.
    detections_per_img: int = 300
    # Detections scoring below this are dropped before NMS (JI sweeps thresholds 0.0..0.9 above it).
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    # Width of Mask R-CNN's four mask-head convolutions (torchvision's 256); they run on every
    # positive ROI at 14x14, most of a small Mask R-CNN's training step on a CPU.
    mask_head_dim: int = 256


def _norm_conv(in_dim: int, out_dim: int) -> nn.Sequential:
    """ViTDet's per-level output: 1x1 conv + LN, then 3x3 conv + LN."""
    return nn.Sequential(
        nn.Conv2d(in_dim, out_dim, 1, bias=False),
        LayerNorm2d(out_dim),
        nn.Conv2d(out_dim, out_dim, 3, padding=1, bias=False),
        LayerNorm2d(out_dim),
    )


class SimpleFeaturePyramid(nn.Module):
    """One stride-16 map [B, D, H/16, W/16] -> {"0".."3": strides 4, 8, 16, 32, "pool": 64}."""

    def __init__(self, in_dim: int, out_dim: int = 256) -> None:
        super().__init__()
        half, quarter = in_dim // 2, in_dim // 4
        self.scales = nn.ModuleList(
            [
                nn.Sequential(
                    nn.ConvTranspose2d(in_dim, half, 2, stride=2),
                    LayerNorm2d(half),
                    nn.GELU(),
                    nn.ConvTranspose2d(half, quarter, 2, stride=2),
                    _norm_conv(quarter, out_dim),
                ),
                nn.Sequential(nn.ConvTranspose2d(in_dim, half, 2, stride=2), _norm_conv(half, out_dim)),
                _norm_conv(in_dim, out_dim),
                nn.Sequential(nn.MaxPool2d(2, stride=2), _norm_conv(in_dim, out_dim)),
            ]
        )

    def forward(self, x: Tensor) -> OrderedDict[str, Tensor]:
        out = OrderedDict((name, scale(x)) for name, scale in zip(LEVELS, self.scales, strict=True))
        out["pool"] = F.max_pool2d(out["3"], 1, stride=2)  # P6 as torchvision's LastLevelMaxPool
        return out


class BackbonePyramid(nn.Module):
    """A saip backbone as torchvision expects it: images [B, 3, H, W] -> named maps, `out_channels`.

    `frozen`: the backbone gets no gradients and stays in eval mode whatever `train()` says (no
    drop path), so only pyramid, RPN and box head learn. `amp`: bf16 autocast on CUDA here, maps
    returned in fp32.
    """

    def __init__(
        self, backbone: Backbone, out_dim: int = 256, *, frozen: bool = False, amp: bool = True
    ) -> None:
        super().__init__()
        self.body = backbone
        self.frozen = frozen
        self.amp = amp
        self.out_channels = out_dim
        self.vit = backbone.spec.kind == "vit"
        if self.vit:
            self.pyramid: nn.Module = SimpleFeaturePyramid(backbone.embed_dim, out_dim)
        else:
            dims = [info["num_chs"] for info in backbone.model.feature_info]
            self.pyramid = FeaturePyramidNetwork(dims, out_dim, extra_blocks=LastLevelMaxPool())
        if frozen:
            backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> BackbonePyramid:
        super().train(mode)
        if self.frozen:
            self.body.eval()
        return self

    def _features(self, images: Tensor, mid: bool) -> tuple[Any, Tensor | None, Tensor | None]:
        """(the pyramid's input, and when `mid` the final and intermediate maps a dense head reads:
        the same maps as `DenseModel.features`)."""
        if self.vit:
            h, w = images.shape[-2:]
            taps = self.body.forward_taps(images, mid=mid)
            final = token_map(taps.final, (h // self.body.patch_size, w // self.body.patch_size))  # type: ignore[arg-type]
            return final, final, token_map(taps.mid, taps.grid) if mid else None  # type: ignore[arg-type]
        maps = OrderedDict(zip(LEVELS, self.body.stage_maps(self.body.stem(images)), strict=True))
        if not mid:
            return maps, None, None
        middle = maps[LEVELS[self.body.mid_block]].permute(0, 2, 3, 1)
        final = self.body.model.head.norm(maps[LEVELS[-1]])
        return maps, final, self.body.mid_norm(middle).permute(0, 3, 1, 2)

    def forward_with_taps(
        self, images: Tensor, *, mid: bool = True
    ) -> tuple[OrderedDict[str, Tensor], Tensor | None, Tensor | None]:
        """(pyramid maps, final map, intermediate map), all fp32, from one backbone pass."""
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp and images.is_cuda):
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
                features, final, middle = self._features(images, mid)
            maps = self.pyramid(features)
        return (
            OrderedDict((name, m.float()) for name, m in maps.items()),
            None if final is None else final.float(),
            None if middle is None else middle.float(),
        )

    def forward(self, images: Tensor) -> OrderedDict[str, Tensor]:
        return self.forward_with_taps(images, mid=False)[0]


class _Fp32Heads:
    """RPN and ROI heads in fp32 under any outer autocast (see the module docstring); the backbone
    pyramid turns bf16 back on for itself."""

    def forward(self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None) -> Any:
        with torch.autocast(images[0].device.type, enabled=False):
            return super().forward(images, targets)  # type: ignore[misc]


class Detector(_Fp32Heads, FasterRCNN):
    """Faster R-CNN on `BackbonePyramid`: boxes."""


class MaskDetector(_Fp32Heads, MaskRCNN):
    """Mask R-CNN on `BackbonePyramid`: boxes and instance masks (28x28 per ROI, pasted into the
    image by torchvision's postprocess)."""


DETECTORS: dict[str, type[FasterRCNN]] = {"faster_rcnn": Detector, "mask_rcnn": MaskDetector}


@dataclass
class DetectorPass:
    """What one pass of a detector gives a task that adds its own heads (see `detector_pass`)."""

    batch: ImageList  # the resized, normalised, padded images and their resized sizes
    targets: list[dict[str, Tensor]] | None  # the targets in resized coordinates
    maps: OrderedDict[str, Tensor]  # the pyramid
    final: Tensor | None  # the backbone's final and intermediate maps (when `mid`)
    mid: Tensor | None
    detections: list[dict[str, Tensor]]  # eval mode: in resized coordinates, before postprocess
    losses: dict[str, Tensor] = field(default_factory=dict)  # training mode: torchvision's terms


def detector_pass(
    detector: FasterRCNN,
    images: list[Tensor],
    targets: list[dict[str, Tensor]] | None = None,
    *,
    mid: bool = False,
) -> DetectorPass:
    """torchvision's `GeneralizedRCNN.forward` opened up (transform, backbone, RPN, ROI heads), so a
    task's extra heads read the same pass: the backbone's taps, the pyramid, the resized targets
    and boxes. Heads in fp32 as `_Fp32Heads`; call `detector.transform.postprocess` to go back to
    the original sizes."""
    with torch.autocast(images[0].device.type, enabled=False):
        batch, resized = detector.transform(images, targets)
        maps, final, middle = detector.backbone.forward_with_taps(batch.tensors, mid=mid)
        proposals, rpn_losses = detector.rpn(batch, maps, resized)
        detections, roi_losses = detector.roi_heads(maps, proposals, batch.image_sizes, resized)
    return DetectorPass(batch, resized, maps, final, middle, detections, {**rpn_losses, **roi_losses})


def build_detector(
    backbone: Backbone,
    cfg: DetectorConfig,
    *,
    frozen: bool = False,
    amp: bool = True,
    kind: str = "faster_rcnn",
    num_classes: int = 2,
) -> FasterRCNN:
    """A `DETECTORS[kind]` (default person vs background) on `BackbonePyramid(backbone)`; inputs
    are padded to multiples of 32, which every backbone's stride divides."""
    if kind not in DETECTORS:
        raise ValueError(f"unknown detector {kind!r}; use one of {', '.join(DETECTORS)}")
    levels = len(LEVELS) + 1
    if len(cfg.anchor_sizes) != levels:
        raise ValueError(
            f"detector.anchor_sizes needs {levels} sizes (strides 4..64), got {cfg.anchor_sizes}"
        )
    anchors = AnchorGenerator(
        sizes=tuple((int(s),) for s in cfg.anchor_sizes),
        aspect_ratios=(tuple(float(r) for r in cfg.aspect_ratios),) * levels,
    )
    heads: dict[str, Any] = {"num_classes": num_classes}
    if kind == "mask_rcnn":  # torchvision takes a mask predictor only with the box one, not num_classes
        width = cfg.mask_head_dim
        heads = {
            "box_predictor": FastRCNNPredictor(1024, num_classes),  # TwoMLPHead's 1024-d output
            "mask_head": MaskRCNNHeads(cfg.pyramid_dim, [width] * 4, 1),
            "mask_predictor": MaskRCNNPredictor(width, width, num_classes),
        }
    return DETECTORS[kind](
        BackbonePyramid(backbone, cfg.pyramid_dim, frozen=frozen, amp=amp),
        min_size=cfg.min_size,
        max_size=cfg.max_size,
        image_mean=list(IMAGENET_DEFAULT_MEAN),
        image_std=list(IMAGENET_DEFAULT_STD),
        rpn_anchor_generator=anchors,
        box_detections_per_img=cfg.detections_per_img,
        box_score_thresh=cfg.score_thresh,
        box_nms_thresh=cfg.nms_thresh,
        size_divisible=32,
        **heads,
    )
