"""`saip eval fashion`: the Fashionpedia reader and its bad input, the model, a run end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from saip.cli import main
from saip.config import load_config
from saip.errors import DataError
from saip.models.backbone import create_backbone
from saip.tasks.fashion import FashionConfig
from saip.tasks.instance.attribute_detector import AttributeDetector
from saip.tasks.instance.detector import DetectorConfig, build_detector
from saip.tasks.instance.fashionpedia import FashionDataset, load_split

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools on NumPy 2
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"
FAST = [
    "--config",
    str(CONFIGS / "fashion_cpu.yaml"),
    "--weights",
    "none",
    "model.backbone=vit_micro",
    "--device",
    "cpu",
    "--max-steps",
    "2",
    "train.num_workers=0",
    "fashion.detector.pyramid_dim=16",
    "fashion.detector.min_size=64",
    "fashion.detector.max_size=96",
    "fashion.pictures=2",
    "fashion.detector.detections_per_img=20",
]


def test_reader_maps_ids_through_the_files_lists(fashion_root: Path) -> None:
    val = load_split(fashion_root, "val")
    assert val.category_ids == [0, 6, 14] and val.attribute_ids == [3, 17, 115]
    image, target, _ = FashionDataset(val)[0]
    assert image.shape == (3, 64, 48)
    anns = val.coco.loadAnns(val.coco.getAnnIds(imgIds=val.image_ids[0]))
    assert target["labels"].tolist() == [[0, 6, 14].index(a["category_id"]) + 1 for a in anns]
    shirt = target["labels"].tolist().index(1)
    slot = [3, 17, 115].index(anns[shirt]["attribute_ids"][0])
    assert target["attributes"][shirt].tolist() == [float(k == slot) for k in range(3)]
    assert target["masks"].shape == (len(anns), 64, 48)
    assert target["masks"].sum((1, 2)).tolist() == [a["area"] for a in anns]


def _edit(root: Path, change) -> Path:
    path = root / "annotations" / "instances_attributes_val2020.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["annotations"][0].update(attribute_ids=[999]), r"annotation \d+: attribute ids \[999\]"),
        (lambda d: d["annotations"][0].update(category_id=45), r"annotation \d+: category id 45"),
        (lambda d: d["annotations"][0].update(image_id=7), r"annotation \d+: no image_id"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotation \d+: box \[1, 2, 3\]"),
        (lambda d: d.pop("attributes"), "not a Fashionpedia file"),
    ],
)
def test_bad_records_are_named(fashion_root: Path, tmp_path: Path, change, message: str) -> None:
    root = Path(shutil.copytree(fashion_root, tmp_path / "f"))
    path = _edit(root, change)
    with pytest.raises(DataError, match=f"{path}.*{message}" if "Fashionpedia" not in message else message):
        load_split(root, "val")


def test_a_missing_image_and_degenerate_boxes(
    fashion_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = Path(shutil.copytree(fashion_root, tmp_path / "f"))
    _edit(root, lambda d: d["annotations"][0].update(bbox=[1, 2, 0, 3]))
    assert len(load_split(root, "val").coco.anns) == len(load_split(fashion_root, "val").coco.anns) - 1
    assert "skipped 1 boxes with w or h <= 0" in caplog.text
    (root / "test" / "200.jpg").unlink()
    with pytest.raises(DataError, match="1 of 2 listed files are missing"):
        load_split(root, "val")


def test_attribute_head_trains_and_predicts() -> None:
    torch.manual_seed(0)
    cfg = DetectorConfig(pyramid_dim=16, min_size=64, max_size=96, anchor_sizes=(8, 16, 32, 64, 128))
    detector = build_detector(create_backbone("vit_micro", (64, 64)), cfg, kind="mask_rcnn", num_classes=4)
    model = AttributeDetector(detector, 5)  # type: ignore[arg-type]
    masks = torch.zeros(1, 64, 48, dtype=torch.uint8)
    masks[0, 10:30, 5:25] = 1
    target = {
        "boxes": torch.tensor([[5.0, 10, 25, 30]]),
        "labels": torch.tensor([2]),
        "masks": masks,
        "attributes": torch.tensor([[0.0, 1, 0, 0, 1]]),
    }
    losses = model.train()([torch.rand(3, 64, 48)], [target])
    assert "loss_attributes" in losses and "loss_mask" in losses
    sum(losses.values()).backward()
    assert model.attributes.weight.grad is not None
    with torch.no_grad():
        out = model.eval()([torch.rand(3, 64, 48)])[0]
    assert out["attributes"].shape == (len(out["boxes"]), 5)


@pytest.mark.slow
def test_fashion_end_to_end(fashion_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["eval", "fashion", "--data", str(fashion_root), "--out", str(out), *FAST]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"AP_box", "AP_mask", "AP_iou_f1_box", "AP_iou_f1_mask"}
    assert all(v is None or 0.0 <= v <= 1.0 for v in metrics.values())
    assert (out / "pictures" / "fashion.png").is_file()
    for r in json.loads((out / "detections.json").read_text()):
        assert r["category_id"] in (0, 6, 14) and set(r["attribute_ids"]) <= {3, 17, 115}
        assert len(r["bbox"]) == 4 and set(r["segmentation"]) == {"size", "counts"}


@pytest.mark.parametrize("config", sorted(CONFIGS.glob("fashion_*.yaml")), ids=lambda p: p.stem)
def test_configs_fit_the_schema(config: Path) -> None:
    cfg = load_config(FashionConfig, config, ["data=x"])
    assert cfg.format == "fashionpedia" and cfg.protocol in ("finetune", "frozen")
    assert len(cfg.fashion.detector.anchor_sizes) == 5
