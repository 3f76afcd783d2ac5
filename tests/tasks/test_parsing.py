"""`saip eval parsing` end to end on a tiny generated LIP set, its flip symmetry and bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saip.cli import main
from saip.config import load_config
from saip.errors import DataError
from saip.synth import generate
from saip.tasks.dense.lip import IGNORE, LIP_CLASSES, LIPDataset, lip_files
from saip.tasks.parsing import ParsingConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"

FAST = [
    "--weights",
    "none",
    "model.backbone=vit_micro",
    "--device",
    "cpu",
    "--batch-size",
    "2",
    "--max-steps",
    "2",
    "model.img_size=[64,48]",
    "parsing.head_width=16",
    "train.num_workers=0",
    "train.epochs=1",
    "parsing.pictures=2",
]


@pytest.fixture(scope="module")
def lip_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("parsing", tmp_path_factory.mktemp("lip"), seed=0, limit=4)


def test_mirrored_sample_swaps_left_and_right_parts(lip_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = lip_files(lip_root, "train")
    plain = LIPDataset(files, (64, 48))[0]["label"]
    mirrored_set = LIPDataset(files, (64, 48), train=True, scale=0.0, rotation=0.0)
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.zeros(()))  # always mirror
    mirrored = mirrored_set[0]["label"]
    expected = plain.flip(-1).clone()
    for left, right in ((14, 15), (16, 17), (18, 19)):
        expected[plain.flip(-1) == left], expected[plain.flip(-1) == right] = right, left
    assert torch.equal(mirrored, expected)
    assert {int(v) for v in plain.unique()} <= set(range(len(LIP_CLASSES))) | {IGNORE}


@pytest.mark.slow
def test_parsing_end_to_end(lip_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["eval", "parsing", "--data", str(lip_root), "--out", str(out), *FAST]) == 0
    for name in ("config.yaml", "log.jsonl", "checkpoints/last.pt", "pictures/parsing.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"mIoU", "pixel_acc", "mean_acc", "per_class_iou"} <= set(metrics)
    iou = metrics["per_class_iou"]
    assert len(iou) == 20 and all(v is None or 0.0 <= v <= 1.0 for v in iou)
    defined = [v for v in iou if v is not None]
    assert metrics["mIoU"] == pytest.approx(sum(defined) / len(defined))
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("mIoU", "pixel_acc", "mean_acc"))


@pytest.mark.parametrize("remove", ["val_id.txt", "TrainVal_parsing_annotations/train_segmentations"])
def test_bad_layout_is_named_before_training(
    lip_root: Path, tmp_path: Path, remove: str, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "lip"
    shutil.copytree(lip_root, broken)
    target = broken / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    out = tmp_path / "run"
    assert main(["eval", "parsing", "--data", str(broken), "--out", str(out), *FAST]) == 2
    assert remove.split("/")[-1] in caplog.text and not out.exists()


def test_listed_image_missing(lip_root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "lip"
    shutil.copytree(lip_root, broken)
    first = sorted((broken / "TrainVal_images" / "val_images").iterdir())[0]
    first.unlink()
    with pytest.raises(DataError, match=first.name):
        lip_files(broken, "val")


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("parsing_*.yaml")), ids=lambda p: p.stem)
def test_configs_fit_the_schema(config: Path) -> None:
    cfg = load_config(ParsingConfig, config, ["data=x"])
    assert cfg.format == "lip" and all(side % 16 == 0 for side in cfg.model.img_size)


def test_labels_outside_the_classes_are_refused(lip_root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "lip"
    shutil.copytree(lip_root, broken)
    files = lip_files(broken, "val")
    with Image.open(files[0][1]) as lab:
        label = np.asarray(lab).copy()
    label[: label.shape[0] // 2] = 42
    Image.fromarray(label).save(files[0][1])
    with pytest.raises(DataError, match="outside 0..19"):
        LIPDataset(files, (64, 48))[0]
