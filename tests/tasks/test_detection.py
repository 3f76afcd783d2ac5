"""`saip eval detection` end to end on a tiny CrowdHuman-layout set, its configs and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from saip.cli import main
from saip.config import load_config
from saip.tasks.detection import DetectionConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"
FAST = [
    "--config",
    str(CONFIGS / "detection_cpu.yaml"),
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
    "detection.detector.pyramid_dim=16",
    "detection.detector.min_size=64",
    "detection.detector.max_size=96",
    "detection.pictures=2",
]


@pytest.fixture(scope="module")
def crowd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 train and 2 val 72x96 images of 1-3 tall rectangles (people), one with an ignore region."""
    root = tmp_path_factory.mktemp("crowdhuman")
    (root / "Images").mkdir()
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 2)):
        lines = []
        for k in range(count):
            image_id = f"{split}{k},0"
            image = Image.new("RGB", (96, 72), (40, 60, 80))
            draw = ImageDraw.Draw(image)
            gtboxes = []
            for _ in range(int(rng.integers(1, 4))):
                x, y = int(rng.integers(0, 70)), int(rng.integers(0, 30))
                draw.rectangle([x, y, x + 16, y + 40], fill=(220, 180, 140))
                gtboxes.append({"tag": "person", "fbox": [x, y, 16, 40], "extra": {}})
            if k == 0:
                gtboxes.append({"tag": "mask", "fbox": [0, 60, 20, 12], "extra": {"ignore": 1}})
            image.save(root / "Images" / f"{image_id}.jpg")
            lines.append(json.dumps({"ID": image_id, "gtboxes": gtboxes}))
        (root / f"annotation_{split}.odgt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.slow
def test_detection_end_to_end_and_resume(crowd_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = ["eval", "detection", "--data", str(crowd_root), "--out", str(out), *FAST]
    assert main([*run, "--max-steps", "1"]) == 0
    assert main([*run, "--resume", "auto"]) == 0
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == 2
    for name in (
        "config.yaml",
        "log.jsonl",
        "checkpoints/last.pt",
        "pictures/detection.png",
        "detections.json",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"AP", "MR-2", "JI"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    results = json.loads((out / "detections.json").read_text())
    assert [r["ID"] for r in results] == ["val0,0", "val1,0"]
    assert all((r["width"], r["height"]) == (96, 72) and len(r["dtboxes"]) <= 300 for r in results)
    for box in (b for r in results for b in r["dtboxes"]):
        assert len(box["box"]) == 4 and box["tag"] == 1 and 0.0 <= box["score"] <= 1.0


def test_check_data_and_a_bad_layout(
    crowd_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["eval", "detection", "--data", str(crowd_root), "--check-data", *FAST]) == 0
    out = tmp_path / "run"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["eval", "detection", "--data", str(empty), "--out", str(out), *FAST]) == 2
    assert "annotation_train.odgt is missing" in caplog.text and not out.exists()


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("detection_*.yaml")), ids=lambda p: p.stem)
def test_configs_fit_the_schema(config: Path) -> None:
    cfg = load_config(DetectionConfig, config, ["data=x"])
    assert cfg.format == "crowdhuman" and cfg.protocol in ("finetune", "frozen")
    assert len(cfg.detection.detector.anchor_sizes) == 5 and cfg.detection.detector.detections_per_img >= 300
