"""Text-to-person retrieval speed: the metrics on a CUHK-PEDES-sized test set (6,156 captions x
3,074 images, random features) against a per-caption loop, and text / image encoder throughput.

    python benchmarks/eval_text.py [--device cpu|cuda] [--backbone vit_tiny] [--batch-size 64]

Prints a Markdown table; the two metric implementations must agree (checked).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from saip.models.backbone import create_backbone
from saip.tasks.engine import autocast, select_device
from saip.tasks.retrieval_metrics import text_retrieval_metrics
from saip.tasks.text import TextSection
from saip.tasks.text_encoders import TextEncoderSpec, create_text_encoder

R = TypeVar("R")
CUHK_TEST = {"captions": 6156, "images": 3074, "ids": 1000}
CAPTION_TOKENS = 40  # CUHK-PEDES captions average about 23 words; with sub-words and [CLS] / [SEP]


def per_caption_loop(sim: np.ndarray, caption_pids: np.ndarray, image_pids: np.ndarray) -> dict[str, float]:
    """The protocol as most text-ReID code writes it: one argsort and one pass per caption."""
    aps, inps, cmc = [], [], []
    for i in range(len(caption_pids)):
        order = np.argsort(-sim[i], kind="stable")
        matches = (image_pids[order] == caption_pids[i]).astype(np.float64)
        hits = np.cumsum(matches)
        ranks = np.flatnonzero(matches)
        aps.append(float((hits[ranks] / (ranks + 1)).mean()))
        inps.append(float(hits[-1] / (ranks[-1] + 1)))
        cmc.append([float(ranks[0] < k) for k in (1, 5, 10)])
    r1, r5, r10 = np.mean(cmc, 0)
    return {"R1": r1, "R5": r5, "R10": r10, "mAP": float(np.mean(aps)), "mINP": float(np.mean(inps))}


def cuhk_sized_problem(dim: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random caption and image features around shared identity centres; two captions per image."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(CUHK_TEST["ids"], dim, generator=g)
    image_pids = torch.arange(CUHK_TEST["images"]) % CUHK_TEST["ids"]
    caption_image = torch.arange(CUHK_TEST["captions"]) % CUHK_TEST["images"]
    caption_pids = image_pids[caption_image]
    images = centres[image_pids] + 2.0 * torch.randn(CUHK_TEST["images"], dim, generator=g)
    captions = centres[caption_pids] + 2.0 * torch.randn(CUHK_TEST["captions"], dim, generator=g)
    return captions, images, caption_pids, image_pids


def timed(fn: Callable[[], R]) -> tuple[R, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _rate(step: Callable[[], None], items: int, batches: int, device: torch.device) -> float:
    def synced() -> None:
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    synced()  # warm-up
    _, seconds = timed(lambda: [synced() for _ in range(batches)])
    return items * batches / seconds


@torch.no_grad()
def text_rate(name: str, device: torch.device, batch_size: int, batches: int) -> float:
    section = TextSection()
    spec = TextEncoderSpec(
        section.vocab_size, section.width, section.depth, section.heads, section.max_tokens
    )
    encoder = create_text_encoder(name, spec).to(device).eval()
    ids = torch.randint(4, section.vocab_size, (batch_size, CAPTION_TOKENS), device=device)

    def step() -> None:
        with autocast(device):
            encoder(ids)

    return _rate(step, batch_size, batches, device)


@torch.no_grad()
def image_rate(
    backbone: str, img_size: tuple[int, int], device: torch.device, batch_size: int, batches: int
) -> float:
    model = create_backbone(backbone, img_size).to(device).eval()
    x = torch.randn(batch_size, 3, *img_size, device=device)

    def step() -> None:
        with autocast(device):
            model(x)

    return _rate(step, batch_size, batches, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backbone", default="vit_tiny")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    device = select_device(args.device)
    hardware = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    )
    section = TextSection()
    rows = []
    for name in ("transformer", "bow"):
        rate = text_rate(name, device, args.batch_size, args.batches)
        what = (
            f"width {section.width}, depth {section.depth}"
            if name == "transformer"
            else f"width {section.width}"
        )
        rows.append(
            (
                f"text encoder {name} ({what}), {CAPTION_TOKENS} tokens, batch {args.batch_size}",
                f"{rate:.0f} captions/s",
            )
        )
    img_size = (384, 128)
    rate = image_rate(args.backbone, img_size, device, args.batch_size, args.batches)
    rows.append((f"image encoder {args.backbone} 384x128, batch {args.batch_size}", f"{rate:.1f} images/s"))
    captions, images, caption_pids, image_pids = cuhk_sized_problem(dim=section.embed_dim)
    sim, t_sim = timed(lambda: F.normalize(captions, dim=1) @ F.normalize(images, dim=1).T)
    ours, t_ours = timed(lambda: text_retrieval_metrics(sim, caption_pids, image_pids))
    loop, t_loop = timed(lambda: per_caption_loop(sim.numpy(), caption_pids.numpy(), image_pids.numpy()))
    for key in ours:
        if not np.isclose(ours[key], loop[key], rtol=0, atol=1e-9):
            raise SystemExit(f"vectorised and loop metrics disagree on {key}: {ours[key]} vs {loop[key]}")
    rows += [
        (f"cosine similarity 6,156 x 3,074 (D={section.embed_dim})", f"{t_sim:.3f} s"),
        ("metrics, vectorised (saip.tasks.retrieval_metrics)", f"{t_ours:.2f} s"),
        ("metrics, per-caption loop", f"{t_loop:.2f} s ({t_loop / t_ours:.1f}x slower)"),
    ]
    print(f"hardware: {hardware}; torch {torch.__version__}")
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"random-feature metrics (identical in both): R1 {ours['R1']:.4f}, mAP {ours['mAP']:.4f}")


if __name__ == "__main__":
    main()
