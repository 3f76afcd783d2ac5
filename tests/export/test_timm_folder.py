"""The timm-native export folder: timm's own `local-dir:` loader rebuilds saip's network and its
preprocessing, and `load_backbone` reads the folder, a run holding it, and older runs."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import timm
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, resolve_data_config

from saip.export.weights import FOLDER_TAPS, export_backbone, export_timm_folder, load_backbone
from saip.models.backbone import Backbone


@pytest.mark.parametrize("name", ["vit_micro", "tiny_vit_5m", "convnextv2_femto"])
def test_timm_local_dir_reproduces_saip(
    tmp_path: Path, name: str, perturbed: Callable[[str], Backbone]
) -> None:
    backbone = perturbed(name)
    folder = export_timm_folder(backbone, tmp_path / "export", card="# card\n")
    assert sorted(p.name for p in folder.glob("*.safetensors")) == ["model.safetensors"]  # timm < 1.0.24
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    x = torch.randn(2, 3, 64, 32)
    want = backbone.forward_taps(x, mid=True)
    with torch.no_grad():
        features = model.forward_features(x)
        if name == "vit_micro":  # [B, 1 + N, D]: class token then patch tokens, after the final norm
            torch.testing.assert_close(
                features, torch.cat([want.cls[:, None], want.final], 1), rtol=0, atol=0
            )
        torch.testing.assert_close(model(x), want.cls, rtol=0, atol=0)
    data = resolve_data_config({}, model=model)
    assert tuple(data["input_size"]) == (3, 64, 32) and data["crop_pct"] == 1.0
    assert data["interpolation"] == "bilinear" and data["crop_mode"] == "center"
    assert tuple(data["mean"]) == IMAGENET_DEFAULT_MEAN and tuple(data["std"]) == IMAGENET_DEFAULT_STD
    again = load_backbone(str(folder)).eval().forward_taps(x, mid=True)
    for field in ("mid", "mid_cls", "final", "cls"):  # the tap norms come back from saip/taps.safetensors
        torch.testing.assert_close(getattr(again, field), getattr(want, field), rtol=0, atol=0)


def test_runs_old_and_new_load(tmp_path: Path, perturbed: Callable[[str], Backbone]) -> None:
    backbone = perturbed("vit_micro")
    x = torch.randn(1, 3, 64, 32)
    old = tmp_path / "old"  # a run from before the export folder: backbone.safetensors + backbone.json
    export_backbone(backbone, old)
    new = tmp_path / "new"
    export_timm_folder(backbone, new / "export", card="")
    config = json.loads((new / "export" / "config.json").read_text())
    assert config["num_classes"] == 0 and config["model_args"]["dynamic_img_size"] is True
    assert config["model_args"]["embed_dim"] == 48 and config["saip"]["taps_file"] == FOLDER_TAPS
    for source in (old, new, new / "export", new / "export" / "model.safetensors"):
        torch.testing.assert_close(load_backbone(str(source)).eval()(x), backbone(x), rtol=0, atol=0)
    bigger = load_backbone(str(new), img_size=(128, 64))  # 2-D resampled, as for the other formats
    assert bigger(torch.randn(1, 3, 128, 64)).shape == (1, 48)
    shutil.rmtree(new / "export")
    with pytest.raises(ValueError, match="export/config.json"):
        load_backbone(str(new))
