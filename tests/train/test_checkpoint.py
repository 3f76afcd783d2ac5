"""Atomic checkpoints, weights_only loading, RNG states, pruning."""

from __future__ import annotations

import errno
import os
import pickle
import random
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from saip.train import checkpoint as ck
from saip.train.rundir import RunDir


def test_rng_state_round_trip_through_weights_only(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    ck.save_atomic({"rng": ck.rng_state()}, tmp_path / "c.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    ck.set_rng_state(ck.load_checkpoint(tmp_path / "c.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    ck.save_atomic({"step": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        ck.save_atomic({"step": 2, "bad": Unpicklable()}, path)
    assert ck.load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_weights_only_refuses_arbitrary_objects(tmp_path: Path) -> None:
    torch.save({"obj": Path("x")}, tmp_path / "evil.pt")  # an arbitrary class, not plain data
    with pytest.raises(ck.CheckpointError) as err:
        ck.load_checkpoint(tmp_path / "evil.pt")
    message = str(err.value)
    assert message.startswith(str(tmp_path / "evil.pt")) and "\n" not in message
    assert "weights_only" not in message.removeprefix(str(tmp_path))  # never torch's advice
    assert isinstance(err.value.__cause__, pickle.UnpicklingError)


@pytest.mark.parametrize("size", [0, 100, -100])
def test_truncated_file_is_a_one_line_error(tmp_path: Path, size: int) -> None:
    ck.save_atomic({"w": torch.ones(1000)}, tmp_path / "last.pt")
    data = (tmp_path / "last.pt").read_bytes()
    (tmp_path / "last.pt").write_bytes(data[:size])
    with pytest.raises(ck.CheckpointError, match="last.pt: unreadable"):
        ck.load_checkpoint(tmp_path / "last.pt")


def test_prune_keeps_newest(tmp_path: Path) -> None:
    for step in (2, 4, 6, 8):
        ck.save_atomic({"step": step}, tmp_path / f"step_{step:07d}.pt")
    ck.save_atomic({}, tmp_path / "last.pt")
    ck.prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "step_0000006.pt", "step_0000008.pt"]


def test_saved_file_has_the_usual_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        ck.save_atomic({"step": 1}, tmp_path / "last.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "last.pt").stat().st_mode) == 0o640  # 0o666 & ~0o027, not 0o600


def test_run_start_removes_stale_temporary_files(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in (".last.pt.k2j3h4.tmp", ".step_0000002.pt.x9y8.tmp", "last.pt", "notes.tmp"):
        (folder / name).write_bytes(b"x")
    RunDir(tmp_path, tensorboard=False)
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "notes.tmp"]


def test_link_shares_the_file_and_falls_back_to_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = ck.save_atomic({"step": 4, "w": torch.ones(3)}, tmp_path / "last.pt")
    ck.save_atomic({"step": 2}, tmp_path / "step_0000004.pt")  # a stale file of that name is replaced
    linked = ck.link_atomic(last, tmp_path / "step_0000004.pt")
    assert linked.stat().st_ino == last.stat().st_ino  # written once
    assert ck.load_checkpoint(linked)["step"] == ck.load_checkpoint(last)["step"] == 4

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(ck.os, "link", no_links)
    copied = ck.link_atomic(last, tmp_path / "step_0000006.pt")
    assert copied.stat().st_ino != last.stat().st_ino and ck.load_checkpoint(copied)["step"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "step_0000004.pt", "step_0000006.pt"]
