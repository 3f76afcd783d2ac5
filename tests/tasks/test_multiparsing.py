"""`saip eval multiparsing` end to end on a tiny CIHP-layout set, the model's outputs, configs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from saip.cli import main
from saip.config import load_config
from saip.models.backbone import create_backbone
from saip.tasks.dense.heads import PartHead
from saip.tasks.instance.detector import DetectorConfig, build_detector
from saip.tasks.instance.multiparser import MultiParser, _nearest, _to_size
from saip.tasks.multiparsing import MultiParsingConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"
FAST = [
    "--config",
    str(CONFIGS / "multiparsing_cpu.yaml"),
    "--weights",
    "none",
    "model.backbone=vit_micro",
    "--device",
    "cpu",
    "--batch-size",
    "2",
    "--max-steps",
    "2",
    "train.num_workers=0",
    "multiparsing.detector.pyramid_dim=16",
    "multiparsing.detector.min_size=64",
    "multiparsing.detector.max_size=96",
    "multiparsing.head_width=16",
    "multiparsing.pictures=2",
    "multiparsing.detector.detections_per_img=20",
]


def test_model_losses_and_outputs_at_the_original_size() -> None:
    torch.manual_seed(0)
    backbone = create_backbone("vit_micro", (64, 64))
    cfg = DetectorConfig(pyramid_dim=16, min_size=64, max_size=96, anchor_sizes=(8, 16, 32, 64, 128))
    model = MultiParser(
        build_detector(backbone, cfg, kind="mask_rcnn"),  # type: ignore[arg-type]
        PartHead(backbone.embed_dim, backbone.mid_dim, 20, 16),
    )
    images = [torch.rand(3, 50, 70), torch.rand(3, 61, 40)]
    targets = []
    for image in images:
        h, w = image.shape[-2:]
        masks = torch.zeros(1, h, w, dtype=torch.uint8)
        masks[0, 5:40, 5:30] = 1
        parts = (masks[0].long() * 5).masked_fill(
            torch.zeros(h, w, dtype=torch.bool).index_fill(0, torch.tensor([0]), True), 255
        )
        targets.append(
            {
                "boxes": torch.tensor([[5.0, 5, 30, 40]]),
                "labels": torch.tensor([1]),
                "masks": masks,
                "parts": parts,
            }
        )
    losses = model.train()(images, targets)
    assert {"loss_mask", "loss_parts", "loss_objectness"} <= set(losses)
    sum(losses.values()).backward()
    assert model.head.classifier[1].weight.grad is not None
    assert model.detector.backbone.body.model.blocks[0].attn.qkv.weight.grad is not None
    with torch.no_grad():
        detections, parts = model.eval()(images)
    for image, det, logits in zip(images, detections, parts, strict=True):
        assert logits.shape == (20, *image.shape[-2:])
        assert det["masks"].shape[-2:] == image.shape[-2:]


@pytest.mark.slow
def test_multiparsing_end_to_end_and_resume(cihp_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = ["eval", "multiparsing", "--data", str(cihp_root), "--out", str(out), *FAST]
    assert main([*run, "--max-steps", "1"]) == 0
    assert main([*run, "--resume", "auto"]) == 0
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == 2
    assert (out / "pictures" / "multiparsing.png").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"mIoU", "APp50", "APp_vol", "APr50", "APr_vol", "per_class_iou"}
    assert len(metrics["per_class_iou"]) == 20
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("mIoU", "APp50", "APp_vol", "APr50", "APr_vol"))


def test_check_data_names_a_bad_instance_png(cihp_copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["eval", "multiparsing", "--data", str(cihp_copy), "--check-data", *FAST]) == 0
    from PIL import Image

    path = cihp_copy / "Validation" / "Instance_ids" / "val001.png"
    Image.new("L", (64, 48), 3).save(path)  # an id on every background pixel
    assert main(["eval", "multiparsing", "--data", str(cihp_copy), "--check-data", *FAST]) == 2
    assert f"{path}: instance id 3" in caplog.text


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("multiparsing_*.yaml")), ids=lambda p: p.stem)
def test_configs_fit_the_schema(config: Path) -> None:
    cfg = load_config(MultiParsingConfig, config, ["data=x"])
    assert cfg.format == "cihp" and cfg.protocol in ("finetune", "frozen")
    assert len(cfg.multiparsing.detector.anchor_sizes) == 5


def test_part_loss_is_taken_at_the_resized_extent() -> None:
    """Training compares logits at the detector's resolution with the part map resized by nearest
    neighbour (ids never blend, 255 stays ignored); evaluation goes to the original size."""
    parts = torch.tensor([[0, 0, 5, 5], [0, 0, 5, 5], [255, 255, 9, 9], [255, 255, 9, 9]])
    assert _nearest(parts, (2, 2)).tolist() == [[[0, 5], [255, 9]]]
    assert _nearest(parts, (4, 4)).tolist() == [parts.tolist()]
    logits = torch.randn(3, 4, 6)  # stride 4 of a 16 x 24 padded batch
    assert _to_size(logits, (13, 21)).shape == (1, 3, 13, 21)  # cut to the resized extent
    assert _to_size(logits, (13, 21), (26, 42)).shape == (1, 3, 26, 42)  # back to the original
