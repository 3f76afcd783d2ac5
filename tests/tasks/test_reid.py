"""`saip eval reid` end to end on tiny generated sets, the online probe, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from saip.cli import main
from saip.config import load_config
from saip.export.weights import load_backbone
from saip.tasks.config import ReidConfig
from saip.tasks.reid import frozen_probe
from saip.tasks.retrieval_metrics import cosine_distance, retrieval_metrics

TINY = ["--device", "cpu", "model.img_size=[64,32]", "train.num_workers=0", "train.eval_batch_size=32"]
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"
KEYS = {"mAP", "rank1", "rank5", "rank10", "mINP"}


@pytest.mark.slow
def test_frozen_end_to_end(market_root, tmp_path) -> None:
    out = tmp_path / "frozen"
    assert (
        main(
            [
                "eval",
                "reid",
                "--data",
                str(market_root),
                "--weights",
                "none",
                "--out",
                str(out),
                "--save-features",
                *TINY,
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == KEYS and all(0.0 <= v <= 1.0 for v in metrics.values())
    f = np.load(out / "features.npz")
    dist = cosine_distance(torch.from_numpy(f["query_feats"]), torch.from_numpy(f["gallery_feats"]))
    again = retrieval_metrics(
        dist, f["query_pids"], f["gallery_pids"], f["query_camids"], f["gallery_camids"]
    )
    assert again == pytest.approx(metrics)  # the saved features are the ones the metrics came from
    assert (f["gallery_pids"] == -1).any() and (f["gallery_pids"] == 0).any()
    assert (out / "config.yaml").is_file() and (out / "pictures" / "reid_ranking.png").is_file()


@pytest.mark.slow
def test_frozen_without_bnneck_needs_no_train_split(market_root, tmp_path, caplog) -> None:
    """Only fine-tuning and the BN-neck statistics read bounding_box_train/."""
    data = tmp_path / "market"
    shutil.copytree(market_root, data, ignore=shutil.ignore_patterns("bounding_box_train"))
    argv = ["eval", "reid", "--data", str(data), "reid.flip_test=false", "reid.picture_queries=0", *TINY]
    assert main([*argv, "--out", str(tmp_path / "frozen")]) == 0
    assert set(json.loads((tmp_path / "frozen" / "metrics.json").read_text())) == KEYS
    assert main([*argv, "--out", str(tmp_path / "bnneck"), "reid.bnneck=true"]) == 2
    assert "missing bounding_box_train/" in caplog.text


@pytest.mark.slow
def test_frozen_bnneck_and_rerank(market_root, tmp_path) -> None:
    out = tmp_path / "rerank"
    assert (
        main(
            [
                "eval",
                "reid",
                "--data",
                str(market_root),
                "--out",
                str(out),
                "reid.bnneck=true",
                "reid.rerank=true",
                "reid.flip_test=false",
                "reid.picture_queries=0",
                *TINY,
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == KEYS and all(0.0 <= v <= 1.0 for v in metrics.values())


@pytest.mark.slow
def test_finetune_and_resume(market_root, tmp_path) -> None:
    out = tmp_path / "finetune"
    args = [
        "eval",
        "reid",
        "--data",
        str(market_root),
        "--protocol",
        "finetune",
        "--out",
        str(out),
        "--batch-size",
        "8",
        "--log-every",
        "1",
        "reid.flip_test=false",
        "reid.picture_queries=0",
        "model.drop_path=0",
        *TINY,
    ]
    assert main([*args, "--max-steps", "1"]) == 0
    assert main([*args, "--max-steps", "2", "--resume", "auto"]) == 0
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if "loss_triplet" in r]
    assert train_steps == [1, 2] and all(np.isfinite(r["loss"]) for r in records if "loss" in r)
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == 2
    assert set(json.loads((out / "metrics.json").read_text())) == KEYS


def test_frozen_probe_keeps_mode(market_root) -> None:
    backbone = load_backbone("none", img_size=(64, 32)).train()
    metrics = frozen_probe(
        backbone, market_root, device=torch.device("cpu"), batch_size=32, img_size=(64, 32)
    )
    assert backbone.training and all(m.training for m in backbone.modules())
    assert 0.0 <= metrics["mAP"] <= 1.0 and 0.0 <= metrics["rank1"] <= 1.0


def test_bad_input_fails_before_training(market_root, tmp_path, caplog) -> None:
    out = tmp_path / "bad"
    assert main(["eval", "reid", "--data", str(tmp_path), "--out", str(out), *TINY]) == 2
    assert "not in the Market-1501 layout" in caplog.text
    assert (
        main(
            [
                "eval",
                "reid",
                "--data",
                str(market_root),
                "--weights",
                str(tmp_path / "w.safetensors"),
                "--out",
                str(out),
                *TINY,
            ]
        )
        == 2
    )
    assert "weights not found" in caplog.text
    assert (
        main(
            [
                "eval",
                "reid",
                "--data",
                str(market_root),
                "--protocol",
                "finetune",
                "--batch-size",
                "6",
                "--out",
                str(out),
                *TINY,
            ]
        )
        == 2
    )
    assert "P x K" in caplog.text
    assert not out.exists()  # nothing written, nothing trained


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("reid_*.yaml")), ids=lambda p: p.stem)
def test_configs_load(path) -> None:
    cfg = load_config(ReidConfig, path)
    assert cfg.format in ("market1501", "msmt17") and cfg.protocol in ("frozen", "finetune")
    assert cfg.train.batch_size % cfg.reid.num_instances == 0


@pytest.mark.data
def test_pku_reid_smoke(pku_reid) -> None:
    backbone = load_backbone("none", img_size=(64, 32))
    metrics = frozen_probe(backbone, pku_reid, device=torch.device("cpu"), batch_size=64, img_size=(64, 32))
    assert set(metrics) == KEYS and 0.0 < metrics["rank10"] <= 1.0


def test_setup_failure_after_the_run_opens_closes_it(market_root, tmp_path, monkeypatch) -> None:
    """A task failing between `open_run` and its loop leaves no log handler and no lock behind."""
    import logging

    from saip.tasks import reid
    from saip.train.rundir import RunDir

    def fail(*args, **kwargs):
        raise ValueError("features failed")

    monkeypatch.setattr(reid, "_frozen_model", fail)
    out = tmp_path / "run"
    argv = ["eval", "reid", "--data", str(market_root), "--out", str(out), "reid.flip_test=false", *TINY]
    assert main(argv) == 2
    assert (out / "eval.log").is_file()
    assert not [h for h in logging.getLogger("saip").handlers if isinstance(h, logging.FileHandler)]
    RunDir(out).close()  # the lock was released: a new writer may open it
