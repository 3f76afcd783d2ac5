"""A one-minute smoke run of the transfer study on a tiny synthetic Market-1501 set."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from saip.synth import generate

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _study():
    """benchmarks/transfer.py as a module (benchmarks/ is not a package)."""
    if "transfer" not in sys.modules:
        spec = importlib.util.spec_from_file_location("transfer", ROOT / "benchmarks" / "transfer.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["transfer"] = module
        spec.loader.exec_module(module)
    return sys.modules["transfer"]


def test_bootstrap_interval_brackets_the_mean() -> None:
    study = _study()
    ap = np.random.default_rng(0).random((3, 40))
    mean, low, high = study.bootstrap(ap)
    assert mean == pytest.approx(ap.mean()) and low < mean < high
    assert study.bootstrap(np.full((2, 10), 0.5))[1:] == (0.5, 0.5)  # no spread, no interval


def test_study_smoke_run(tmp_path: Path, tiny_overrides: list[str]) -> None:
    data = generate("reid", tmp_path / "reid", seed=0, limit=48)
    work = tmp_path / "study"
    skip = ("train.epochs", "train.checkpoint_every", "model.backbone")  # --backbone must set it
    tiny = [o for o in tiny_overrides if not o.startswith(skip)]
    table = _study().main(
        [
            "--config",
            str(ROOT / "configs" / "demo.yaml"),
            "--data",
            str(data),
            "--work",
            str(work),
            "--minutes",
            "0.1",
            "--ablation-minutes",
            "0.05",
            "--seeds",
            "1",
            "--finetune-seeds",
            "1",
            "--arms",
            "random",
            "pixels",
            "saip",
            "csm",
            "--full-arms",
            "saip",
            "--synth-tasks",
            "attributes",
            "--synth-steps",
            "2",
            "--backbone",
            "vit_micro",
            "--img-size",
            "64",
            "32",
            "--threads",
            "0",
            "--pretrain-overrides",
            *tiny,
            "data.num_workers=0",
            "--finetune-overrides",
            "train.total_steps=2",
            "train.batch_size=8",
            "model.drop_path=0",
        ]
    )
    assert set(table) == {"random", "pixels", "saip", "csm"}
    meta = json.loads((work / "transfer.json").read_text())["meta"]
    assert meta["steps"] >= 1 and meta["ablation_steps"] <= meta["steps"] and meta["seconds_per_step"] > 0
    for name in ("saip", "csm"):
        assert table[name]["steps"] == (meta["steps"] if name == "saip" else meta["ablation_steps"])
        assert (work / "arms" / f"{name}_s0" / "backbone.safetensors").is_file()
    resolved = yaml.safe_load((work / "arms" / "csm_s0" / "config.yaml").read_text())
    assert [resolved[k]["enabled"] for k in ("csm", "csr", "css")] == [True, False, False]
    assert resolved["model"]["backbone"] == "vit_micro" and resolved["model"]["img_size"] == [64, 32]
    for name in ("random", "saip"):
        for key in ("frozen_cls", "frozen_mid", "finetune"):
            row = table[name][key]
            assert 0 < row["low"] <= row["mAP"] <= row["high"] <= 1, (name, key, row)
            assert np.mean(row["per_run"]) == pytest.approx(row["mAP"], abs=1e-4)
    assert "frozen_mid" not in table["pixels"] and 0 < table["pixels"]["frozen_cls"]["mAP"] <= 1
    for name in ("random", "saip", "csm"):  # the synthetic task ran with each model arm's backbone
        assert 0 <= table[name]["synthetic"]["attributes_mA"] <= 1
    text = (work / "transfer.md").read_text()

    assert "| saip |" in text and "| pixels |" in text and (work / "transfer.png").is_file()


def test_tuning_split_holds_identities_out(tmp_path: Path) -> None:
    data = generate("reid", tmp_path / "reid", seed=0, limit=48)
    split = _study().tuning_split(data, tmp_path / "tuning", held_out=3)
    sets = {
        name: {(f.name.split("_")[0], f.name.split("_")[1][:2]) for f in (split / name).iterdir()}
        for name in ("bounding_box_train", "query", "bounding_box_test")
    }
    held = {pid for pid, _ in sets["query"] | sets["bounding_box_test"]}
    assert len(held) == 3 and not held & {pid for pid, _ in sets["bounding_box_train"]}
    assert {cam for _, cam in sets["query"]} == {"c1"} and "c1" not in {
        cam for _, cam in sets["bounding_box_test"]
    }
    assert _study().tuning_split(data, tmp_path / "tuning", held_out=3) == split  # same draw: reused
    with pytest.raises(ValueError, match="--held-out"):
        _study().tuning_split(data, tmp_path / "other", held_out=0)
