"""Every pretraining config in configs/ loads against the schema (no stale or misspelt keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saip import config
from saip.config import ConfigError, PretrainConfig, find_config, load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_pretraining_config_loads(path: Path) -> None:
    cfg = load_config(PretrainConfig, path)
    assert cfg.name == path.stem
    assert cfg.csm.enabled or cfg.csr.enabled or cfg.css.enabled


def test_bundled_configs_are_found_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = CONFIGS / "demo.yaml"
    for name in ("demo", "demo.yaml", "configs/demo.yaml"):
        assert find_config(name).resolve() == demo
    assert find_config("reid_cpu") == find_config("eval/reid_cpu.yaml") == CONFIGS / "eval" / "reid_cpu.yaml"
    assert load_config(PretrainConfig, "demo").name == "demo"
    mine = tmp_path / "demo.yaml"  # a file of the user's wins over the bundled one
    mine.write_text("name: mine\n")
    assert load_config(PretrainConfig, mine).name == "mine"
    with pytest.raises(ConfigError, match="nor among saip's configs"):
        find_config("no_such_recipe")
    # Outside a checkout: the copy the wheel installs under <prefix>/share/saip/configs.
    installed = tmp_path / "prefix" / "share" / "saip" / "configs"
    (installed / "eval").mkdir(parents=True)
    (installed / "eval" / "reid_cpu.yaml").write_text("name: installed\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config, "CHECKOUT_CONFIGS", tmp_path / "absent")
    monkeypatch.setattr(config.sysconfig, "get_path", lambda kind, scheme=None: str(tmp_path / "prefix"))
    assert config.bundled_config_dirs() == [installed]
    for name in ("configs/eval/reid_cpu.yaml", "reid_cpu"):
        assert find_config(name) == installed / "eval" / "reid_cpu.yaml"


def test_the_wheel_carries_every_config() -> None:
    """pyproject's data-files globs cover every file under configs/ (the wheel's copy)."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    data_files = tomllib.loads((CONFIGS.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    shipped = {p.resolve() for globs in data_files.values() for g in globs for p in CONFIGS.parent.glob(g)}
    assert shipped == {p.resolve() for p in CONFIGS.rglob("*") if p.is_file()}
