"""`saip eval all`: two tiny synthetic tasks, the others skipped and reported; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from saip.cli import main
from saip.export.weights import export_backbone
from saip.models.backbone import create_backbone
from saip.suite import SUITE, evaluate_all
from saip.synth import generate

TINY = ["model.img_size=[64,32]", "train.batch_size=8", "train.eval_batch_size=16", "train.num_workers=0"]


@pytest.mark.slow
def test_two_tiny_tasks_with_random_init_row(tmp_path: Path) -> None:
    root = tmp_path / "data"  # the layout `saip synth --preset all --out DIR` writes
    generate("reid", root / "reid", limit=10, scale=0.2)
    generate("attributes", root / "attributes", limit=8)
    weights = export_backbone(create_backbone("vit_micro", (64, 32)), tmp_path / "weights")
    out = tmp_path / "scores"
    argv = ["eval", "all", "--weights", str(weights), "--data-root", str(root), "--out", str(out)]
    assert main([*argv, "--random-init", "--device", "cpu", "--max-steps", "2", *TINY]) == 0

    scores = json.loads((out / "scores.json").read_text())
    assert set(scores) == {
        "weights",
        "protocol",
        "data_root",
        "headline",
        "rows",
        "skipped",
        "failed",
        "run_dirs",
    }
    assert scores["protocol"] == "cheap" and scores["failed"] == {}
    assert set(scores["skipped"]) == set(SUITE) - {"reid", "attributes"}
    assert str(root / "pose") in scores["skipped"]["pose"]
    assert set(scores["rows"]) == {"pretrained", "random_init"}
    for row in scores["rows"].values():
        assert set(row) == {"reid", "attributes"}
        assert 0.0 <= row["reid"]["mAP"] <= 1.0 and 0.0 <= row["attributes"]["mA"] <= 1.0
    run = out / "reid" / "pretrained"
    assert (run / "metrics.json").is_file()
    assert " INFO saip.tasks.engine: " in (run / "eval.log").read_text()
    assert (out / "attributes" / "random_init" / "metrics.json").is_file()

    table = (out / "scores.md").read_text()
    assert "| | reid mAP | attributes mA |" in table and "| random init |" in table
    assert "## Skipped" in table and "- pose: no folder" in table
    with Image.open(out / "scores.png") as chart:
        assert chart.width > 200 and chart.height > 200


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "unrelated").mkdir()
    with pytest.raises(ValueError, match="expected sub-folders named reid, attributes"):
        evaluate_all("none", tmp_path, out=tmp_path / "out")
    with pytest.raises(ValueError, match="unknown task"):
        evaluate_all("none", tmp_path, tasks=["reid", "golf"])
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        evaluate_all("none", tmp_path / "absent")
    (tmp_path / "reid").mkdir()
    with pytest.raises(ValueError, match="--random-init needs --weights"):
        evaluate_all("none", tmp_path, tasks=["reid"], random_init=True, out=tmp_path / "out")
    assert main(["eval", "all", "--weights", "none", "--data-root", str(tmp_path / "absent")]) == 2


def test_convnet_runs_every_task(tmp_path: Path) -> None:
    """The ConvNet family through all nine tasks (one step each): heads, pyramids and metrics
    take its stride-32 final map and stride-16 stage."""
    root = tmp_path / "data"
    for preset in SUITE:
        generate(preset, root / preset, limit=8, scale=0.2)
    weights = export_backbone(create_backbone("convnextv2_femto", (64, 32)), tmp_path / "weights")
    out = tmp_path / "scores"
    argv = ["eval", "all", "--weights", str(weights), "--data-root", str(root), "--out", str(out)]
    small = ["model.img_size=[64,32]", "train.batch_size=4", "train.eval_batch_size=8", "train.num_workers=0"]
    assert main([*argv, "--device", "cpu", "--max-steps", "1", *small]) == 0
    scores = json.loads((out / "scores.json").read_text())
    assert scores["failed"] == {} and scores["skipped"] == {}
    row = scores["rows"]["pretrained"]
    assert set(row) == set(SUITE)
    for task, metrics in row.items():
        headline = metrics[SUITE[task].headline]
        assert headline is not None and 0.0 <= headline <= 1.0, (task, metrics)
