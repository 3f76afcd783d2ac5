"""User errors are one line and an exit code, real bugs keep their traceback."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from saip.cli import main
from saip.train import checkpoint as ck


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def _bad_out(tmp_path: Path, kind: str) -> Path:
    """An --out that cannot be a run directory."""
    (tmp_path / "file").write_text("x")
    if kind == "existing file":
        return tmp_path / "file"
    if kind == "under a file":
        return tmp_path / "file" / "run"
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return read_only / "run"


@pytest.mark.parametrize("command", ["pretrain", "synth"])
@pytest.mark.parametrize(
    "kind",
    [
        "existing file",
        "under a file",
        pytest.param(
            "read-only",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders"),
        ),
    ],
)
def test_unusable_out_is_one_line(
    tmp_path: Path,
    tiny_overrides: list[str],
    caplog: pytest.LogCaptureFixture,
    command: str,
    kind: str,
) -> None:
    out = _bad_out(tmp_path, kind)
    argv = (
        ["pretrain", "--out", str(out), "--max-steps", "1", *tiny_overrides]
        if command == "pretrain"
        else ["synth", "--preset", "reid", "--out", str(out), "--limit", "1"]
    )
    assert main(argv) == 2
    (error,) = _errors(caplog)
    assert error.startswith(f"output folder {out}:") and "\n" not in error
    assert not caplog.records[-1].exc_info  # no traceback without --verbose


def test_verbose_shows_the_traceback_of_a_user_error(
    tmp_path: Path, tiny_overrides: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = _bad_out(tmp_path, "existing file")
    assert main(["pretrain", "--out", str(out), "--verbose", *tiny_overrides]) == 2
    assert caplog.records[-1].exc_info is not None


def test_a_bug_keeps_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import saip.synth.cli

    def broken(*args: object, **kwargs: object) -> Path:
        raise RuntimeError("a bug")

    monkeypatch.setattr(saip.synth.cli, "generate", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["synth", "--preset", "reid", "--out", str(tmp_path / "out")])


def test_disk_full_anywhere_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import saip.synth.cli

    def full(*args: object, **kwargs: object) -> Path:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "out" / "x.jpg"))

    monkeypatch.setattr(saip.synth.cli, "generate", full)
    assert main(["synth", "--preset", "reid", "--out", str(tmp_path / "out")]) == 2
    assert _errors(caplog) == [f"no space left on the device: {tmp_path / 'out' / 'x.jpg'}"]


@pytest.mark.slow
def test_disk_full_during_a_checkpoint_is_one_line_and_keeps_last_pt(
    tmp_path: Path,
    tiny_overrides: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = tmp_path / "run"
    assert main(["pretrain", "--out", str(out), "--max-steps", "2", *tiny_overrides]) == 0

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ck.os, "fsync", full)
    resume = ["pretrain", "--out", str(out), "--max-steps", "4", "--resume", "auto"]
    assert main([*resume, *tiny_overrides]) == 2
    (error,) = _errors(caplog)
    assert "no space left" in error and str(out / "checkpoints" / "last.pt") in error and "\n" not in error
    monkeypatch.undo()
    assert ck.load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.pt", "step_0000002.pt"]


def test_a_bad_override_is_refused_even_when_a_flag_overrides_it_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    argv = ["pretrain", "--out", str(tmp_path / "run"), "--batch-size", "4", "train.batch_size=abc"]
    assert main(argv) == 2
    assert any("train.batch_size" in e for e in _errors(caplog))
    assert not (tmp_path / "run" / "log.jsonl").exists()
