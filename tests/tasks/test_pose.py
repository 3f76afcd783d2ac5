"""`saip eval pose` end to end on tiny generated COCO / COCO-WholeBody sets, and its bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from saip.cli import main
from saip.config import load_config
from saip.export.weights import export_backbone
from saip.models.backbone import create_backbone
from saip.synth import generate
from saip.tasks.dense.coco_eval import evaluate_keypoints, make_result
from saip.tasks.dense.coco_pose import (
    PoseAugment,
    TopDownDataset,
    find_keypoint_set,
    load_annotations,
    person_instances,
)
from saip.tasks.dense.flip import flip_back
from saip.tasks.dense.keypoints import COCO_BODY, COCO_WHOLEBODY
from saip.tasks.pose import PoseConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"

FAST = [
    "--weights",
    "none",
    "model.backbone=vit_micro",
    "--device",
    "cpu",
    "--batch-size",
    "4",
    "--max-steps",
    "2",
    "model.img_size=[64,48]",
    "pose.head_width=16",
    "train.num_workers=0",
    "train.epochs=2",  # >= 2 steps even when the 3 generated scenes hold only 4-7 people
    "train.eval_batch_size=16",
    "pose.pictures=4",
]


@pytest.fixture(scope="module")
def coco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("pose", tmp_path_factory.mktemp("coco"), seed=0, limit=3)


@pytest.fixture(scope="module")
def wholebody_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("wholebody", tmp_path_factory.mktemp("wholebody"), seed=0, limit=3)


def test_flipped_sample_mirrors_targets_and_swaps_sides(coco_root: Path) -> None:
    kpset = COCO_BODY
    instances = person_instances(load_annotations(coco_root, "train", kpset), coco_root / "train2017", kpset)
    plain = TopDownDataset(instances, kpset, (64, 48))[0]
    mirrored = TopDownDataset(
        instances, kpset, (64, 48), augment=PoseAugment(flip=1.0, scale=0.0, rotation=0.0)
    )[0]
    assert torch.allclose(
        mirrored["target"], flip_back(plain["target"][None], kpset.flip_index())[0], atol=1e-5
    )
    assert torch.allclose(mirrored["image"], plain["image"].flip(-1), atol=0.05)


def test_ground_truth_of_generated_set_scores_one(wholebody_root: Path) -> None:
    gt = load_annotations(wholebody_root, "val", COCO_WHOLEBODY)
    results = []
    for inst in person_instances(gt, wholebody_root / "val2017", COCO_WHOLEBODY):
        points = inst.points.copy()
        points[:, 2] = points[:, 2] > 0
        results.append(make_result(inst.image_id, points, 1.0, COCO_WHOLEBODY))
    metrics = evaluate_keypoints(gt, results, COCO_WHOLEBODY)
    for key in ("AP", "AP_body", "AP_foot", "AP_face", "AP_hand", "AP_wholebody"):
        assert metrics[key] == pytest.approx(1.0), key


@pytest.mark.slow
def test_pose_end_to_end_and_resume(coco_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["eval", "pose", "--data", str(coco_root), "--out", str(out), *FAST, "--max-steps", "1"]) == 0
    assert main(["eval", "pose", "--data", str(coco_root), "--out", str(out), *FAST, "--resume", "auto"]) == 0
    for name in ("config.yaml", "log.jsonl", "checkpoints/last.pt", "pictures/pose.png"):
        assert (out / name).is_file(), name
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"AP", "AP50", "AP75", "APm", "APl", "AR"} <= set(metrics)
    assert all(v is None or 0.0 <= v <= 1.0 for v in metrics.values())
    results = json.loads((out / "keypoints_results.json").read_text())
    val = person_instances(load_annotations(coco_root, "val", COCO_BODY), coco_root / "val2017", COCO_BODY)
    assert len(results) == len(val)  # one entry per evaluated person box
    assert len(results[0]["keypoints"]) == 51 and 0.0 <= results[0]["score"]


@pytest.mark.slow
def test_wholebody_is_selected_by_its_annotation_file(wholebody_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "wb"
    assert (
        main(
            ["eval", "pose", "--data", str(wholebody_root), "--out", str(out), *FAST, "--protocol", "frozen"]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("AP_body", "AP_foot", "AP_face", "AP_hand", "AP_wholebody"):
        assert 0.0 <= metrics[key] <= 1.0, key
    entry = json.loads((out / "keypoints_results.json").read_text())[0]
    assert [
        len(entry[k]) for k in ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")
    ] == [51, 18, 204, 63, 63]


def test_missing_annotations_are_named(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    with pytest.raises(ValueError, match="person_keypoints_"):
        find_keypoint_set(tmp_path)
    out = tmp_path / "run"
    assert main(["eval", "pose", "--data", str(tmp_path), "--out", str(out), *FAST]) == 2
    assert not out.exists()  # nothing written before the input is known to be good


def test_missing_images_and_bad_weights_fail_before_training(
    coco_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "coco"
    shutil.copytree(coco_root, broken)
    first = sorted((broken / "val2017").iterdir())[0]
    first.unlink()
    out = tmp_path / "run"
    assert main(["eval", "pose", "--data", str(broken), "--out", str(out), *FAST]) == 2
    assert first.name in caplog.text and not out.exists()
    assert (
        main(
            [
                "eval",
                "pose",
                "--data",
                str(coco_root),
                "--out",
                str(out),
                *FAST,
                "--weights",
                str(tmp_path / "missing.safetensors"),
            ]
        )
        == 2
    )
    assert "missing.safetensors" in caplog.text and not out.exists()
    assert (
        main(["eval", "pose", "--data", str(coco_root), "--out", str(out), *FAST, "model.img_size=[60,48]"])
        == 2
    )
    assert "multiples of 16" in caplog.text


def test_detections_replace_ground_truth_boxes(coco_root: Path) -> None:
    gt = load_annotations(coco_root, "val", COCO_BODY)
    image = gt["images"][0]
    dets = [
        {"image_id": image["id"], "category_id": 1, "bbox": [5.0, 5.0, 40.0, 80.0], "score": 0.8},
        {"image_id": image["id"], "category_id": 1, "bbox": [5.0, 5.0, 40.0, 80.0], "score": 0.1},
    ]
    instances = person_instances(gt, coco_root / "val2017", COCO_BODY, dets, score_thr=0.5)
    assert len(instances) == 1 and instances[0].score == 0.8 and not np.any(instances[0].points)


def test_weights_for_another_backbone_are_refused(
    coco_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    export_backbone(create_backbone("vit_micro", (64, 48)), tmp_path / "w")
    meta = json.loads((tmp_path / "w" / "backbone.json").read_text())
    (tmp_path / "w" / "backbone.json").write_text(json.dumps({**meta, "saip_backbone": "vit_tiny"}))
    out = tmp_path / "run"
    assert (
        main(
            [
                "eval",
                "pose",
                "--data",
                str(coco_root),
                "--out",
                str(out),
                *FAST,
                "--weights",
                str(tmp_path / "w" / "backbone.safetensors"),
            ]
        )
        == 2
    )
    assert "does not fit" in caplog.text and not out.exists()


@pytest.mark.parametrize(
    "config",
    sorted(CONFIGS.glob("pose_*.yaml")) + sorted(CONFIGS.glob("wholebody_*.yaml")),
    ids=lambda p: p.stem,
)
def test_configs_fit_the_schema(config: Path) -> None:
    cfg = load_config(PoseConfig, config, ["data=x"])
    assert cfg.format in ("coco", "wholebody") and cfg.model.img_size[0] % 16 == 0
