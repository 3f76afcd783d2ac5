"""The Python API: lazy and torch-free on import, and the same work as the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch

import saip
from saip.synth import generate

ROOT = Path(__file__).resolve().parents[1]


def test_import_and_version_stay_torch_free() -> None:
    code = "import sys, saip; saip.__version__; import saip.synth.cli; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    assert saip.__version__.count(".") >= 2
    with pytest.raises(AttributeError):
        saip.not_an_api_function  # noqa: B018


@pytest.mark.slow
def test_pretrain_evaluate_load(tmp_path: Path, tiny_overrides: list[str]) -> None:
    run, summary = saip.pretrain(overrides=tiny_overrides, out=tmp_path / "run", max_steps=1)
    assert run == tmp_path / "run" and summary == json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 1
    backbone = saip.load_backbone(run).eval()
    x = torch.randn(1, 3, 64, 32)
    torch.testing.assert_close(backbone(x), saip.load_backbone(run / "backbone.safetensors").eval()(x))
    # The run's export folder is a timm model: timm alone gives saip's features, exactly.
    model = timm.create_model("local-dir:" + str(run / "export"), pretrained=True).eval()
    with torch.no_grad():
        taps = backbone.forward_taps(x, mid=False)
        features = torch.cat([taps.cls[:, None], taps.final], 1)
        torch.testing.assert_close(model.forward_features(x), features, rtol=0, atol=0)
    market = generate("reid", tmp_path / "market", seed=0, limit=16)
    metrics = saip.evaluate(
        "reid",
        run,
        market,
        {"model.img_size": (64, 32), "train.num_workers": 0, "reid.flip_test": False},
        out=tmp_path / "eval",
        device="cpu",
    )
    assert metrics == json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(metrics) == {"mAP", "rank1", "rank5", "rank10", "mINP"}
    assert saip.evaluate("reid", "none", market, check_data=True) == {}


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(TypeError, match="max_step"):
        saip.pretrain(max_step=1)
    with pytest.raises(ValueError, match="unknown task"):
        saip.evaluate("detection", "none", "/nowhere")
    with pytest.raises(TypeError, match="key=value"):
        saip.evaluate("reid", "none", "/nowhere", "train.seed=1")
