"""Every pretraining config in configs/ loads against the schema (no stale or misspelt keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saip.config import PretrainConfig, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_pretraining_config_loads(path: Path) -> None:
    cfg = load_config(PretrainConfig, path)
    assert cfg.name == path.stem
    assert cfg.csm.enabled or cfg.csr.enabled or cfg.css.enabled
