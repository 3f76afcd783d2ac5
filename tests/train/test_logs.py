"""Logs that read well: a plain `train.log`, a bar that stays quiet off a terminal, pictures and the
resolved config in TensorBoard."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from saip.cli import main
from saip.train.progress import logs_through_bars, progress_bar


def test_bar_off_a_terminal_draws_few_lines() -> None:
    stream = io.StringIO()  # not a terminal, like a redirected stderr
    with progress_bar(500, file=stream) as bar:
        for step in range(500):
            bar.update(1)
            bar.set_postfix(loss=f"{1 / (step + 1):.3f}", refresh=False)
    text = stream.getvalue()
    assert "\r" not in text and 1 <= len(text.splitlines()) <= 3, text  # start, (a 30-s redraw), end
    assert "500/500" in text.splitlines()[-1]


def test_log_rows_off_a_terminal_are_whole_lines_and_redraw_nothing() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("saip.test_logs")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        with logs_through_bars(), progress_bar(10, file=stream) as bar:
            for step in range(10):
                bar.update(1)
                if step % 3 == 0:
                    logger.warning("row %d", step)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert [line for line in lines if line.startswith("row")] == ["row 0", "row 3", "row 6", "row 9"]
    assert len(lines) == 4 + 2, lines  # the bar when it opens and when it closes, nothing after a row


@pytest.mark.slow
def test_short_run_writes_train_log_and_tensorboard(tmp_path: Path, tiny_overrides: list[str]) -> None:
    out = tmp_path / "run"
    argv = ["pretrain", "--out", str(out), "--max-steps", "2", *tiny_overrides, "train.picture_every=2"]
    assert main(argv) == 0
    text = (out / "train.log").read_text()
    assert "\r" not in text
    lines = text.splitlines()
    assert any(" INFO saip.pretrain: run directory " in line for line in lines), text
    assert any(" INFO saip.pretrain: done: 2 steps" in line for line in lines), text
    assert all(" INFO " in line or " WARNING " in line for line in lines), text

    events = EventAccumulator(str(out / "tb"), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert {"pictures", "loss_curves"} <= set(tags["images"])
    picture = events.Images("pictures")[-1]
    assert picture.step == 2 and picture.width > 0 and picture.height > 0
    (config,) = events.Tensors("config/text_summary")
    shown = config.tensor_proto.string_val[0].decode()
    assert "vit_micro" in shown and "picture_every: 2" in shown
    assert "loss" in tags["scalars"]
