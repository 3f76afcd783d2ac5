"""Session-scoped tiny datasets in the real layouts, written by `saip.synth.generate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from saip.synth import generate

PKU_REID = Path(__file__).resolve().parents[3] / "shared" / "data" / "pku-reid"


@pytest.fixture(scope="session")
def market_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Market-1501 layout: ~40 images per folder, with distractors (0000) and junk (-1)."""
    return generate("reid", tmp_path_factory.mktemp("market"), seed=0, limit=40)


@pytest.fixture(scope="session")
def pa100k_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PA-100K layout: annotation.mat + data/, 24 images per split."""
    return generate("attributes", tmp_path_factory.mktemp("pa100k"), seed=0, limit=24)


@pytest.fixture
def pku_reid() -> Path:
    if not (PKU_REID / "query").is_dir():
        pytest.skip(f"{PKU_REID} not present")
    return PKU_REID
