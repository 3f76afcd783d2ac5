"""Images/s of the full per-sample data pipeline (decode, 2 + L views, half view, CSS scene).

Run: `python benchmarks/data_pipeline.py [--data PATH ...] [--workers 0 2] [--seconds 20] [key=value ...]`
Without --data it measures the built-in synthetic people and, when present, the pku-reid folder.
The research code's pipeline takes 19.5 ms per image per core (302 images/s, 14 workers, 16 cores).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

import torch

from saip.config import PretrainConfig, load_config
from saip.data import build_pretrain_loader

PKU_REID = Path(__file__).resolve().parents[2] / "shared/data/pku-reid/bounding_box_train"


def measure_pipeline(cfg: PretrainConfig, workers: int, seconds: float) -> dict[str, Any]:
    """Batches from `build_pretrain_loader(cfg)` with `workers` DataLoader workers for about `seconds`.

    The first batch (worker start-up) is not timed; later epochs are built as needed. With 0 workers
    the main process runs on one thread, so "per worker" always means per core.
    """
    cfg = copy.deepcopy(cfg)
    cfg.data.num_workers = workers
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        epoch, batches = 0, iter(build_pretrain_loader(cfg, epoch=0))
        next(batches)
        images, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            try:
                images += len(next(batches)["index"])
            except StopIteration:
                epoch += 1
                batches = iter(build_pretrain_loader(cfg, epoch=epoch))
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    per_s = images / elapsed
    return {
        "workers": workers,
        "images": images,
        "seconds": elapsed,
        "images_per_s": per_s,
        "images_per_s_per_worker": per_s / max(1, workers),
        "ms_per_image_per_core": 1000 * max(1, workers) / per_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", default=None, help="a source (repeatable); default: synthetic + pku-reid")
    parser.add_argument("--workers", type=int, nargs="+", default=[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("overrides", nargs="*", help="config key=value, e.g. scene.mode=rich")
    args = parser.parse_args()
    sources = args.data or ["", *([str(PKU_REID)] if PKU_REID.is_dir() else [])]
    print("| data | scene | workers | images/s | images/s per worker | ms per image per core |")
    print("|---|---|---|---|---|---|")
    for source in sources:
        cfg = load_config(PretrainConfig, overrides=[f"train.batch_size={args.batch_size}", *args.overrides])
        cfg.data.sources = [source] if source else []
        for workers in args.workers:
            r = measure_pipeline(cfg, workers, args.seconds)
            print(
                f"| {source or 'synthetic'} | {cfg.scene.mode} | {workers} | {r['images_per_s']:.1f} "
                f"| {r['images_per_s_per_worker']:.1f} | {r['ms_per_image_per_core']:.1f} |"
            )


if __name__ == "__main__":
    main()
