"""`torchrun` with 2 CPU processes (gloo), reading WebDataset shards from local paths."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def write_shards(folder: Path, shards: int, per_shard: int) -> str:
    from saip.synth import render_person

    folder.mkdir()
    for s in range(shards):
        with tarfile.open(folder / f"people-{s:03d}.tar", "w") as tar:
            for i in range(per_shard):
                buf = io.BytesIO()
                render_person(s * 1000 + i, (64, 32)).save(buf, format="JPEG", quality=90)
                info = tarfile.TarInfo(f"{s:03d}_{i:05d}.jpg")
                info.size = buf.tell()
                buf.seek(0)
                tar.addfile(info, buf)
    return str(folder / f"people-{{000..{shards - 1:03d}}}.tar")


# Every registered family on 2 processes: DDP fails when a backbone leaves a parameter unused
# (TinyViT's `head.norm` did, before the embedding went through timm's head path).
@pytest.mark.parametrize("backbone", ["vit_micro", "tiny_vit_5m", "convnextv2_femto"])
def test_two_process_gloo_run_on_shards(tmp_path: Path, tiny_overrides: list[str], backbone: str) -> None:
    pattern = write_shards(tmp_path / "shards", shards=2, per_shard=12)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "saip.cli",
        "pretrain",
        "--data",
        pattern,
        "--out",
        str(out),
        "--max-steps",
        "2",
        "--device",
        "cpu",
        *tiny_overrides,
        f"model.backbone={backbone}",
        "data.epoch_size=24",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2
    assert summary["images_seen"] == 2 * 4 * 2  # steps x batch per rank x ranks
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]  # rank 0 alone writes
    assert (out / "backbone.safetensors").is_file()
