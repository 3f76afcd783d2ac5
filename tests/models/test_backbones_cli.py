"""`saip backbones` and the registry fields it lists."""

from __future__ import annotations

import pytest
import torch

from saip.cli import main
from saip.models.backbone import BACKBONES, create_backbone


@pytest.mark.parametrize("name", list(BACKBONES))
def test_spec_params_and_input_size_are_the_models(name: str) -> None:
    spec = BACKBONES[name]
    with torch.device("meta"):  # shapes only: counting 22 M parameters allocates nothing
        backbone = create_backbone(name)
    assert backbone.img_size == spec.input_size
    params_m = sum(p.numel() for p in backbone.model.parameters()) / 1e6
    assert abs(params_m - spec.params_m) < 0.05, (name, params_m)


def test_table_lists_every_backbone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backbones"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:2] == ["name", "kind"]
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == set(BACKBONES)
    for name, spec in BACKBONES.items():
        cells = by_name[name].split()
        assert cells[1] == spec.kind in ("vit", "hybrid", "convnet")
        assert cells[2] == f"{spec.params_m:g}"
        assert ("test only" in by_name[name]) == spec.test_only
    assert "test only" in by_name["vit_micro"] and "test only" not in by_name["vit_tiny"]
    assert "5.5" in by_name["vit_tiny"] and "256 x 128" in by_name["vit_tiny"]


def test_markdown_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backbones", "--markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("|---|") and len(lines) == 2 + len(BACKBONES)
