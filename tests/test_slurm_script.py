"""scripts/slurm_pretrain.sbatch: valid bash, and the torchrun line it hands to srun (SLURM faked)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm_pretrain.sbatch"


def test_syntax() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_torchrun_line_under_a_fake_slurm(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/srun.args\n')
    (bin_dir / "scontrol").write_text("#!/bin/sh\nprintf 'node07\\nnode08\\n'\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SLURM_SUBMIT_DIR": str(tmp_path),
        "SLURM_JOB_NODELIST": "node[07-08]",
        "SLURM_NNODES": "2",
        "SLURM_GPUS_ON_NODE": "4",
        "SLURM_CPUS_PER_TASK": "32",
        "SLURM_JOB_ID": "123",
        "SLURM_JOB_NAME": "saip-pretrain",
    }
    data = "/data/lup/shard-{000000..000199}.tar"
    subprocess.run(["bash", str(SCRIPT), "cfg.yaml", data, "train.epochs=1"], env=env, check=True)
    args = (tmp_path / "srun.args").read_text().split()
    assert args[:2] == ["--kill-on-bad-exit=1", "torchrun"]
    torchrun = dict(zip(args[2:12:2], args[3:12:2], strict=True))
    assert torchrun == {
        "--nnodes": "2",
        "--nproc_per_node": "4",
        "--rdzv_id": "123",
        "--rdzv_backend": "c10d",
        "--rdzv_endpoint": "node07:29500",
    }
    assert args[12:] == [
        "-m", "saip.cli", "pretrain", "--config", "cfg.yaml", "--data", data, "--out",
        "runs/saip-pretrain-123", "--resume", "auto", "data.num_workers=7", "train.epochs=1",
    ]  # fmt: skip
