"""`saip eval attributes` end to end (linear probe and fine-tuning) on a tiny generated PA-100K."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from saip.cli import main
from saip.config import load_config
from saip.tasks.attribute_metrics import attribute_metrics
from saip.tasks.attributes import AttributeModel, deepmar_weights
from saip.tasks.config import AttributesConfig

TINY = [
    "--device",
    "cpu",
    "--batch-size",
    "8",
    "model.img_size=[64,32]",
    "model.drop_path=0",
    "train.num_workers=0",
    "train.eval_batch_size=32",
]
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"
KEYS = {"mA", "accuracy", "precision", "recall", "F1"}


def test_deepmar_weights_by_hand() -> None:
    w = deepmar_weights(torch.tensor([[1.0, 0.0]]), torch.tensor([0.25, 0.25]))
    torch.testing.assert_close(w, torch.tensor([[math.exp(0.75), math.exp(0.25)]]))


def test_model_shapes_and_gradient() -> None:
    model = AttributeModel(torch.nn.Linear(5, 8), embed_dim=8, num_attributes=3)
    logits = model(torch.randn(4, 5))
    assert logits.shape == (4, 3)
    logits.sum().backward()
    assert model.backbone.weight.grad is not None


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["linear", "finetune"])
def test_end_to_end(pa100k_root, tmp_path, protocol: str) -> None:
    out = tmp_path / protocol
    assert (
        main(
            [
                "eval",
                "attributes",
                "--data",
                str(pa100k_root),
                "--protocol",
                protocol,
                "--out",
                str(out),
                "--max-steps",
                "3",
                *TINY,
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == KEYS and all(0.0 <= v <= 1.0 for v in metrics.values())
    pred = np.load(out / "predictions.npz")
    mat = scipy.io.loadmat(pa100k_root / "annotation.mat")
    np.testing.assert_array_equal(pred["labels"], mat["test_label"])
    assert pred["scores"].shape == mat["test_label"].shape and pred["attributes"].shape == (26,)
    assert ((pred["scores"] >= 0) & (pred["scores"] <= 1)).all()
    assert attribute_metrics(pred["scores"], pred["labels"]) == pytest.approx(metrics)
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == 3
    assert (out / "pictures" / "attributes.png").is_file()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("attributes_*.yaml")), ids=lambda p: p.stem)
def test_configs_load(path) -> None:
    cfg = load_config(AttributesConfig, path)
    assert cfg.format in ("pa100k", "peta") and cfg.protocol in ("linear", "finetune")


def test_bad_weights_before_training(pa100k_root, tmp_path, caplog) -> None:
    out = tmp_path / "bad"
    assert (
        main(
            [
                "eval",
                "attributes",
                "--data",
                str(pa100k_root),
                "--weights",
                "resnet50",
                "--out",
                str(out),
                *TINY,
            ]
        )
        == 2
    )
    assert "not a saip backbone" in caplog.text and not out.exists()
