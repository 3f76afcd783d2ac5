"""The detector adaptor on CPU: pyramid strides, a train and an eval pass at <= 256 px, ignore labels."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from saip.models.backbone import create_backbone
from saip.tasks.instance.detector import BackbonePyramid, DetectorConfig, build_detector

SMALL = DetectorConfig(pyramid_dim=16, min_size=64, max_size=96, anchor_sizes=(8, 16, 32, 64, 128))


@pytest.mark.parametrize("name", ["vit_micro", "tiny_vit_5m", "convnextv2_femto"])
def test_pyramid_levels_have_strides_4_to_64(name: str) -> None:
    pyramid = BackbonePyramid(create_backbone(name, (64, 64)), 16).eval()
    with torch.no_grad():
        maps = pyramid(torch.randn(1, 3, 64, 64))
    assert list(maps) == ["0", "1", "2", "3", "pool"]
    assert [tuple(m.shape[-2:]) for m in maps.values()] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert all(m.shape[1] == 16 for m in maps.values())


def test_faster_rcnn_trains_and_predicts_on_cpu() -> None:
    torch.manual_seed(0)
    model = build_detector(create_backbone("vit_micro", (64, 64)), SMALL)
    transform = model.transform
    assert (transform.min_size, transform.max_size) == ((64,), 96)
    assert transform.image_mean == list(IMAGENET_DEFAULT_MEAN) and transform.image_std == list(
        IMAGENET_DEFAULT_STD
    )
    assert model.roi_heads.detections_per_img == 300
    images = [torch.rand(3, 96, 128), torch.rand(3, 120, 80)]
    targets = [
        {"boxes": torch.tensor([[10.0, 10, 40, 90], [60, 0, 120, 40]]), "labels": torch.tensor([1, -1])},
        {"boxes": torch.tensor([[5.0, 5, 50, 110]]), "labels": torch.tensor([1])},
    ]
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total)
    assert model.backbone.body.model.blocks[0].attn.qkv.weight.grad is not None
    model.eval()
    with torch.no_grad():
        out = model(images)
    for image, det in zip(images, out, strict=True):
        h, w = image.shape[-2:]
        assert det["boxes"].shape[1] == 4 and len(det["boxes"]) <= 300
        assert (det["boxes"][:, [0, 2]] <= w).all() and (det["boxes"][:, [1, 3]] <= h).all()


def test_ignore_regions_are_neither_positive_nor_negative() -> None:
    model = build_detector(create_backbone("vit_micro", (64, 64)), SMALL)
    ignore = torch.tensor([[60.0, 0, 120, 40]])
    proposals = [ignore.repeat(50, 1)]
    targets = [{"boxes": torch.tensor([[10.0, 10, 40, 90], *ignore]), "labels": torch.tensor([1, -1])}]
    _, _, labels, _ = model.roi_heads.select_training_samples(proposals, targets)
    # the 50 copies of the ignore region and its own gt proposal are never sampled
    assert set(labels[0].tolist()) <= {0, 1} and len(labels[0]) == 1


def test_frozen_backbone_gets_no_gradient_and_stays_in_eval() -> None:
    model = build_detector(create_backbone("vit_micro", (64, 64)), SMALL, frozen=True).train()
    assert not model.backbone.body.training and model.backbone.pyramid.training
    assert not any(p.requires_grad for p in model.backbone.body.parameters())


def test_heads_run_in_fp32_under_an_outer_autocast() -> None:
    torch.manual_seed(0)
    model = build_detector(create_backbone("vit_micro", (64, 64)), SMALL).eval()
    images = [torch.rand(3, 64, 80)]
    with torch.no_grad():
        plain = model(images)[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cast = model(images)[0]
    assert cast["boxes"].dtype == torch.float32 and torch.equal(cast["boxes"], plain["boxes"])


def test_an_unknown_detector_kind_is_refused() -> None:
    # Mask R-CNN itself is exercised by the multiparsing and fashion model tests
    with pytest.raises(ValueError, match="unknown detector 'yolo'; use one of faster_rcnn, mask_rcnn"):
        build_detector(create_backbone("vit_micro", (64, 64)), SMALL, kind="yolo")


@pytest.mark.parametrize("name", ["vit_micro", "tiny_vit_5m", "convnextv2_femto"])
def test_taps_of_the_pyramid_pass_are_the_dense_models_maps(name: str) -> None:
    from saip.tasks.dense.heads import DenseModel

    torch.manual_seed(0)
    backbone = create_backbone(name, (64, 64)).eval()
    images = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        maps, final, mid = BackbonePyramid(backbone, 16).eval().forward_with_taps(images)
        dense_final, dense_mid = DenseModel(backbone, torch.nn.Identity(), mid=True).features(images)
    assert list(maps) == ["0", "1", "2", "3", "pool"]
    torch.testing.assert_close(final, dense_final)
    torch.testing.assert_close(mid, dense_mid)


def test_mask_head_width_is_configurable_and_torchvisions_by_default() -> None:
    """The default builds torchvision's own Mask R-CNN heads (same names and shapes, so saved runs
    load); `mask_head_dim` narrows the four convolutions and the predictor that reads them."""
    from torchvision.models.detection import MaskRCNN

    backbone = create_backbone("vit_micro", (64, 64))
    ours = build_detector(backbone, SMALL, kind="mask_rcnn", num_classes=3)
    reference = MaskRCNN(ours.backbone, num_classes=3)
    shapes = {k: v.shape for k, v in ours.roi_heads.state_dict().items()}
    assert shapes == {k: v.shape for k, v in reference.roi_heads.state_dict().items()}
    narrow = build_detector(backbone, replace(SMALL, mask_head_dim=8), kind="mask_rcnn", num_classes=3)
    heads = narrow.roi_heads
    assert [m.out_channels for m in heads.mask_head.modules() if isinstance(m, torch.nn.Conv2d)] == [8] * 4
    assert heads.mask_head[0][0].in_channels == 16  # the pyramid's width
    assert heads.mask_predictor.mask_fcn_logits.out_channels == 3
    assert heads.box_predictor.cls_score.out_features == 3
