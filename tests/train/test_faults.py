"""Fault injection: a run killed at each injection point resumes to the uninterrupted run's record.

The kill is real (`SAIP_FAULT` makes a subprocess die by `os._exit(137)` at the named point,
saip/train/faults.py); the resume runs in this process.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_pretrain import assert_same_log, pretrain, read_log

from saip.train.faults import KILLED, POINTS, fault_point

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
STEPS = ["--max-steps", "4"]


@pytest.fixture
def reference(tmp_path: Path, tiny_overrides: list[str]) -> Path:
    """The uninterrupted run (in this process: a few seconds)."""
    out = tmp_path / "straight"
    assert pretrain(out, tiny_overrides, *STEPS) == 0
    return out


@pytest.mark.parametrize(
    "fault", ["checkpoint_before_rename:2", "after_log_row:3", "after_update:3", "before_summary:1"]
)
def test_killed_run_resumes_to_the_same_record(
    fault: str, reference: Path, tmp_path: Path, tiny_overrides: list[str]
) -> None:
    out = tmp_path / "killed"
    done = _run_with_fault(out, fault, tiny_overrides)
    assert done.returncode == KILLED, done.stderr[-2000:]
    assert not (out / "summary.json").exists()
    assert pretrain(out, tiny_overrides, *STEPS, "--resume", "auto") == 0
    _assert_same_run(reference, out)


def test_seeded_schedule_of_five_kills(reference: Path, tmp_path: Path, tiny_overrides: list[str]) -> None:
    # Four kills mid-run (every resume has at least two steps left, so a count of 2 is reached;
    # a checkpoint write only once), then one just before the summary.
    rng = random.Random(0)
    mid_run = [rng.choice(POINTS[:3]) for _ in range(4)]
    schedule = [f"{p}:{1 if p == 'checkpoint_before_rename' else rng.randint(1, 2)}" for p in mid_run]
    schedule.append("before_summary:1")
    out = tmp_path / "killed"
    for fault in schedule:
        done = _run_with_fault(out, fault, tiny_overrides, "--resume", "auto")
        assert done.returncode == KILLED, (schedule, fault, done.stderr[-2000:])
    assert pretrain(out, tiny_overrides, *STEPS, "--resume", "auto") == 0, schedule
    _assert_same_run(reference, out, schedule)


def _run_with_fault(
    out: Path, fault: str, overrides: list[str], *extra: str
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "saip.cli", "pretrain", "--out", str(out), *STEPS, *extra, *overrides]
    env = {**os.environ, "SAIP_FAULT": fault, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=False)


def _assert_same_run(reference: Path, out: Path, schedule: object = None) -> None:
    """Same log apart from timing, no temp files left, the same exported weights."""
    assert_same_log(read_log(reference), read_log(out))
    assert not list((out / "checkpoints").glob("*tmp")), schedule
    expected, resumed = (load_file(d / "backbone.safetensors") for d in (reference, out))
    assert expected.keys() == resumed.keys(), schedule
    for key in expected:
        torch.testing.assert_close(resumed[key], expected[key], rtol=1e-5, atol=1e-6, msg=f"{key} {schedule}")


def test_unknown_fault_point_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAIP_FAULT", "after_lunch:1")
    with pytest.raises(ValueError, match="unknown point"):
        fault_point("after_update")
