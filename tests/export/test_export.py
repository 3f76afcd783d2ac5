"""Exported weights load into plain timm; bad weights fail clearly (ONNX: test_onnx.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file

from saip.cli import main
from saip.export.weights import WeightsError, export_backbone, load_backbone
from saip.models.backbone import Backbone, create_backbone
from saip.train.checkpoint import save_atomic


@pytest.mark.parametrize("name", ["vit_tiny", "tiny_vit_5m", "convnextv2_femto"])
def test_export_loads_into_timm_strict(tmp_path: Path, name: str) -> None:
    backbone = create_backbone(name).eval()
    path = export_backbone(backbone, tmp_path)
    meta = json.loads((tmp_path / "backbone.json").read_text())
    assert meta["input_size"] == [256, 128]
    model = timm.create_model(meta["timm_model"], **meta["timm_kwargs"]).eval()
    model.load_state_dict(load_file(path), strict=True)
    x = torch.randn(1, 3, 256, 128)
    if name == "vit_tiny":  # the contract of the recipe, spelled out
        plain = timm.create_model("vit_tiny_patch16_224", img_size=(256, 128), num_classes=0)
        plain.load_state_dict(load_file(path), strict=True)
        torch.testing.assert_close(plain.eval()(x), backbone(x))
    assert model(x).shape[-1] == backbone.embed_dim


def test_load_backbone_sources(tmp_path: Path) -> None:
    backbone = create_backbone("vit_micro", (64, 32)).eval()
    export_backbone(backbone, tmp_path)
    x = torch.randn(2, 3, 64, 32)
    again = load_backbone(str(tmp_path / "backbone.safetensors")).eval()
    torch.testing.assert_close(again(x), backbone(x))
    # A checkpoint made by the trainer keeps the backbone under "backbone.model." in teacher/student.
    state = {f"backbone.model.{k}": v for k, v in backbone.model.state_dict().items()}
    save_atomic(
        {"teacher": state, "student": state, "backbone": "vit_micro", "img_size": [64, 32]},
        tmp_path / "run" / "checkpoints" / "last.pt",
    )
    from_run = load_backbone(str(tmp_path / "run")).eval()
    torch.testing.assert_close(from_run(x), backbone(x))
    # Another input size: position embeddings resampled in 2-D from the true (4, 2) grid.
    bigger = load_backbone(str(tmp_path / "backbone.safetensors"), img_size=(128, 64))
    assert bigger.model.pos_embed.shape[1] == 1 + 8 * 4
    assert bigger(torch.randn(1, 3, 128, 64)).shape == (1, 48)


@pytest.mark.parametrize("name", ["vit_micro", "tiny_vit_5m", "convnextv2_femto"])
def test_taps_round_trip_exactly(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture, perturbed: Callable[[str], Backbone]
) -> None:
    backbone = perturbed(name)
    export_backbone(backbone, tmp_path)
    assert (tmp_path / "backbone_taps.safetensors").is_file()
    save_atomic(
        {
            "teacher": {f"backbone.{k}": v for k, v in backbone.state_dict().items()},
            "backbone": name,
            "img_size": [64, 32],
        },
        tmp_path / "run" / "checkpoints" / "last.pt",
    )
    x = torch.randn(2, 3, 64, 32)
    want = backbone.forward_taps(x, mid=True, qkv=True)
    for source in (tmp_path / "backbone.safetensors", tmp_path / "run"):
        got = load_backbone(str(source)).eval().forward_taps(x, mid=True, qkv=True)
        for field in ("mid", "mid_cls", "final", "cls"):
            torch.testing.assert_close(getattr(got, field), getattr(want, field), rtol=0, atol=0)
    # timm alone gives saip's global embedding (TinyViT: timm's own pool + head.norm path).
    meta = json.loads((tmp_path / "backbone.json").read_text())
    plain = timm.create_model(meta["timm_model"], **meta["timm_kwargs"]).eval()
    plain.load_state_dict(load_file(tmp_path / "backbone.safetensors"), strict=True)
    torch.testing.assert_close(plain(x), want.cls)
    # An export from before the sidecar still loads, with a warning: its mid norm is fresh.
    (tmp_path / "backbone_taps.safetensors").unlink()
    with caplog.at_level("WARNING"):
        old = load_backbone(str(tmp_path / "backbone.safetensors")).eval()
    assert "mid_norm" in caplog.text
    torch.testing.assert_close(old(x), want.cls)


def test_bad_weights_are_clear_errors(tmp_path: Path) -> None:
    export_backbone(create_backbone("vit_micro", (64, 32)), tmp_path)
    meta = json.loads((tmp_path / "backbone.json").read_text())
    meta["saip_backbone"] = "vit_tiny"  # weights of a 48-wide ViT claimed to be ViT-Tiny
    (tmp_path / "backbone.json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="does not fit"):
        load_backbone(str(tmp_path / "backbone.safetensors"))
    with pytest.raises(WeightsError, match="not found"):
        load_backbone(str(tmp_path / "nothing.safetensors"))
    with pytest.raises(WeightsError, match="no local weights"):
        load_backbone("vit_tiny_patch16_224")  # never downloads
    with pytest.raises(WeightsError, match="not a saip backbone"):
        load_backbone("resnet50")


def test_cli_writes_weights_and_folder(tmp_path: Path) -> None:
    backbone = create_backbone("vit_micro", (64, 32))
    export_backbone(backbone, tmp_path / "run")
    assert (
        main(["export", str(tmp_path / "run" / "backbone.safetensors"), "--out", str(tmp_path / "cli")]) == 0
    )
    assert (tmp_path / "cli" / "backbone.safetensors").is_file()
    # A bare weights file has no run beside it: the card says so instead of inventing a history.
    assert "was not found" in (tmp_path / "cli" / "export" / "README.md").read_text()
    assert timm.create_model(f"local-dir:{tmp_path / 'cli' / 'export'}", pretrained=True) is not None
