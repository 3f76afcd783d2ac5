"""Step limits, intervals and choices are config errors (exit 2, one line naming the key) before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from saip.cli import main
from saip.config import PretrainConfig, load_config


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["--log-every", "0"], "train.log_every"),
        (["train.checkpoint_every=0"], "train.checkpoint_every"),
        (["train.picture_every=0"], "train.picture_every"),
        (["train.probe_every=0"], "train.probe_every"),
        (["train.accum_steps=0"], "train.accum_steps"),
        (["--max-steps", "0"], "--max-steps"),
        (["--max-steps", "-1"], "--max-steps"),
        (["train.epochs=0"], "train.epochs"),
        (["train.total_steps=-1"], "train.total_steps"),
        (["train.compile=fast"], "train.compile"),
        (["csm.criterion=moco"], "csm.criterion"),
        (["csm.contrastive_temp=0"], "csm.contrastive_temp"),
    ],
)
def test_bad_limits_exit_2_before_any_work(
    tmp_path: Path,
    tiny_overrides: list[str],
    caplog: pytest.LogCaptureFixture,
    args: list[str],
    key: str,
) -> None:
    out = tmp_path / "run"
    assert main(["pretrain", "--out", str(out), *tiny_overrides, *args]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and key in errors[0] and "\n" not in errors[0]
    assert not (out / "checkpoints").exists()


def test_empty_override_is_the_empty_string() -> None:
    cfg = load_config(PretrainConfig, None, ["train.probe_data=", "name=x=y"])
    assert cfg.train.probe_data == "" and cfg.name == "x=y"
