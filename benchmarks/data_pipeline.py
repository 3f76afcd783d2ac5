"""Images/s of the full per-sample data pipeline (decode, 2 + L views, half view, CSS scene).

Run: `python benchmarks/data_pipeline.py [--data PATH ...] [--workers 0,2] [--seconds 20] [--baseline] [key=value ...]`
Without --data it measures the built-in synthetic people and, when present, the pku-reid folder.
The research code's pipeline takes 19.5 ms per image per core (302 images/s, 14 workers, 16 cores)
on its machine; `--baseline` also times DINO's torchvision-v1 PIL multi-crop (2 global + 8 local
views, no scene), the style that pipeline is written in, on the same machine and images.
"""

from __future__ import annotations

import argparse
import copy
import functools
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageFilter, ImageOps
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import transforms as T

from saip.config import PretrainConfig, load_config
from saip.data import build_pretrain_loader
from saip.data.images import load_rgb
from saip.data.pipeline import open_sources
from saip.data.sources import ShardSource

PKU_REID = Path(__file__).resolve().parents[2] / "shared/data/pku-reid/bounding_box_train"


def measure_pipeline(cfg: PretrainConfig, workers: int, seconds: float) -> dict[str, Any]:
    """Batches from `build_pretrain_loader(cfg)` with `workers` DataLoader workers for about `seconds`.

    The first batch (worker start-up) is not timed; later epochs are built as needed. With 0 workers
    the main process runs on one thread, so "per worker" always means per core, and
    "cpu_ms_per_image" (this process's CPU time, less sensitive to a busy machine) is given.
    """
    cfg = copy.deepcopy(cfg)
    cfg.data.num_workers = workers
    state = {"epoch": 0, "batches": iter(build_pretrain_loader(cfg, epoch=0))}
    next(state["batches"])

    def one_batch() -> int:
        try:
            return len(next(state["batches"])["index"])
        except StopIteration:
            state["epoch"] += 1
            state["batches"] = iter(build_pretrain_loader(cfg, epoch=state["epoch"]))
            return 0

    images, wall, cpu = _timed(one_batch, seconds)
    per_s = images / wall
    return {
        "workers": workers,
        "images": images,
        "seconds": wall,
        "images_per_s": per_s,
        "images_per_s_per_worker": per_s / max(1, workers),
        "ms_per_image_per_core": 1000 * max(1, workers) / per_s,
        "cpu_ms_per_image": 1000 * cpu / images if workers == 0 else None,
    }


def _timed(step: Callable[[], int], seconds: float) -> tuple[int, float, float]:
    """Runs `step` (returns images done) on one torch thread for about `seconds`: (images, wall s, CPU s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        images, wall, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - wall < seconds:
            images += step()
        return images, time.perf_counter() - wall, time.process_time() - cpu
    finally:
        torch.set_num_threads(threads)


def dino_style_views(cfg: PretrainConfig) -> T.Compose:
    """DINO's v1 PIL augmentation at our shapes: 2 global + (num_local + 1) local views (the baseline)."""

    def maybe(p: float, op) -> T.RandomApply:
        return T.RandomApply([T.Lambda(op)], p=p)

    def blur(img: Image.Image) -> Image.Image:
        return img.filter(ImageFilter.GaussianBlur(radius=float(torch.empty(1).uniform_(0.1, 2.0))))

    v = cfg.views
    photometric = [
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(0.2),
    ]
    tensor = [T.ToTensor(), T.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)]
    bicubic = T.InterpolationMode.BICUBIC

    def crop(size, scale) -> T.RandomResizedCrop:
        return T.RandomResizedCrop(tuple(size), tuple(scale), tuple(v.aspect), interpolation=bicubic)

    global1 = T.Compose([crop(v.global_size, v.global_scale), *photometric, maybe(1.0, blur), *tensor])
    global2 = T.Compose(
        [
            crop(v.global_size, v.global_scale),
            *photometric,
            maybe(0.1, blur),
            maybe(0.2, ImageOps.solarize),
            *tensor,
        ]
    )
    local = T.Compose([crop(v.local_size, v.local_scale), *photometric, maybe(0.5, blur), *tensor])
    return T.Lambda(lambda img: [global1(img), global2(img), *(local(img) for _ in range(v.num_local + 1))])


def measure_baseline(cfg: PretrainConfig, seconds: float) -> dict[str, float]:
    """Decoding + `dino_style_views` on one core over the images of `cfg.data`: wall and CPU ms per image."""
    decode = functools.partial(load_rgb, min_side=cfg.data.min_side, max_pixels=cfg.data.max_pixels)
    people, _ = open_sources(cfg, decode)
    if isinstance(people, ShardSource):
        raise ValueError("the baseline reads folders, lists or synthetic data, not shards")
    views, count = dino_style_views(cfg), itertools.count()

    def one_image() -> int:
        views(people.load(next(count) % len(people)).image)
        return 1

    images, wall, cpu = _timed(one_image, seconds)
    return {"ms_per_image_per_core": 1000 * wall / images, "cpu_ms_per_image": 1000 * cpu / images}


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", action="append", default=None, help="a source (repeatable); default: synthetic + pku-reid"
    )
    parser.add_argument("--workers", type=_ints, default=[0], help="worker counts to try, e.g. 0,2")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--baseline", action="store_true", help="also time DINO-style v1 views (one core)")
    parser.add_argument("overrides", nargs="*", help="config key=value, e.g. scene.mode=rich")
    args = parser.parse_args()
    sources = args.data or ["", *([str(PKU_REID)] if PKU_REID.is_dir() else [])]
    print(
        "| data | pipeline | workers | images/s | images/s per worker | ms per image per core | CPU ms per image |"
    )
    print("|---|---|---|---|---|---|---|")
    for source in sources:
        cfg = load_config(PretrainConfig, overrides=[f"train.batch_size={args.batch_size}", *args.overrides])
        cfg.data.sources = [source] if source else []
        name = source or "synthetic"
        for workers in args.workers:
            r = measure_pipeline(cfg, workers, args.seconds)
            cpu = f"{r['cpu_ms_per_image']:.1f}" if r["cpu_ms_per_image"] is not None else "-"
            print(
                f"| {name} | saip, scene {cfg.scene.mode} | {workers} | {r['images_per_s']:.1f} "
                f"| {r['images_per_s_per_worker']:.1f} | {r['ms_per_image_per_core']:.1f} | {cpu} |"
            )
        if args.baseline:
            b = measure_baseline(cfg, args.seconds)
            per_s = 1000 / b["ms_per_image_per_core"]
            print(
                f"| {name} | DINO-style v1 views, no scene | 0 | {per_s:.1f} | {per_s:.1f} "
                f"| {b['ms_per_image_per_core']:.1f} | {b['cpu_ms_per_image']:.1f} |"
            )


if __name__ == "__main__":
    main()
