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
def test_readme_example_on_tiny_shapes(tmp_path: Path, tiny_overrides: list[str]) -> None:
    """The README's Python API calls, with the tiny shapes of the other end-to-end tests."""
    readme = (ROOT / "README.md").read_text()
    for call in ('saip.pretrain("configs/demo.yaml"', "saip.load_backbone(run)", 'saip.evaluate("reid", run'):
        assert call in readme
    overrides = [*tiny_overrides, "train.probe_data="]  # demo.yaml probes; the test does not need it
    run, summary = saip.pretrain(ROOT / "configs/demo.yaml", overrides, out=tmp_path / "api", max_steps=1)
    assert run == tmp_path / "api" and summary == json.loads((run / "summary.json").read_text())
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
        out=tmp_path / "api-reid",
        device="cpu",
    )
    assert metrics == json.loads((tmp_path / "api-reid" / "metrics.json").read_text())
    assert set(metrics) == {"mAP", "rank1", "rank5", "rank10", "mINP"}
    assert saip.evaluate("reid", "none", market, check_data=True) == {}
    assert saip.create_backbone("vit_micro", img_size=(64, 32))(x).shape == (1, 48)


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(TypeError, match="max_step"):
        saip.pretrain(max_step=1)
    with pytest.raises(ValueError, match="unknown task"):
        saip.evaluate("no_such_task", "none", "/nowhere")
    with pytest.raises(TypeError, match="key=value"):
        saip.evaluate("reid", "none", "/nowhere", "train.seed=1")
