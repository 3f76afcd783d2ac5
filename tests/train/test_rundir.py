"""The run directory's lock: one writer at a time, released on close and on kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from saip.errors import RunDirBusy
from saip.train.rundir import RunDir

# Another process taking the lock the way saip does (flock on RUN/.lock, its pid inside).
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, str(os.getpid()).encode())
print("locked", flush=True)
sys.stdin.read()
"""


def test_second_writer_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = RunDir(tmp_path, tensorboard=False)
    (tmp_path / "checkpoints" / ".last.pt.abc.tmp").write_bytes(b"in progress")
    with pytest.raises(RunDirBusy) as err:
        RunDir(tmp_path, tensorboard=False)
    message = str(err.value)
    assert str(tmp_path) in message and f"pid {os.getpid()}" in message and "\n" not in message
    assert (tmp_path / "checkpoints" / ".last.pt.abc.tmp").exists()  # the first writer's file is kept
    first.close()
    with RunDir(tmp_path, tensorboard=False):
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / ".lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirBusy, match=f"pid {holder.pid}"):
            RunDir(tmp_path, tensorboard=False)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    RunDir(tmp_path, tensorboard=False).close()
