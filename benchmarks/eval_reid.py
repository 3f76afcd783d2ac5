"""ReID evaluation speed: feature extraction images/s, and the metric time on a Market-sized
problem (3,368 queries x 15,913 gallery, random features) against a straightforward per-query loop.

    python benchmarks/eval_reid.py [--device cpu|cuda] [--backbone vit_tiny] [--batch-size 64]

Prints a Markdown table; the two metric implementations must agree (checked).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from saip.models.backbone import create_backbone
from saip.tasks.engine import autocast, select_device
from saip.tasks.retrieval_metrics import cosine_distance, retrieval_metrics

MARKET = {"queries": 3368, "gallery": 15913, "ids": 750, "cameras": 6}


def per_query_loop(
    dist: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, q_cams: np.ndarray, g_cams: np.ndarray
) -> dict[str, float]:
    """The protocol as most ReID code writes it: one argsort and one Python pass per query."""
    aps, inps, cmc = [], [], []
    for i in range(len(q_pids)):
        order = np.argsort(dist[i], kind="stable")
        pids, cams = g_pids[order], g_cams[order]
        keep = (pids != -1) & ~((pids == q_pids[i]) & (cams == q_cams[i]))
        matches = (pids[keep] == q_pids[i]).astype(np.float64)
        if not matches.any():
            continue
        hits = np.cumsum(matches)
        ranks = np.flatnonzero(matches)
        aps.append(float((hits[ranks] / (ranks + 1)).mean()))
        inps.append(float(hits[-1] / (ranks[-1] + 1)))
        cmc.append([float(ranks[0] < k) for k in (1, 5, 10)])
    cmc_mean = np.mean(cmc, 0)
    return {
        "mAP": float(np.mean(aps)),
        "rank1": cmc_mean[0],
        "rank5": cmc_mean[1],
        "rank10": cmc_mean[2],
        "mINP": float(np.mean(inps)),
    }


def market_sized_problem(dim: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random features with Market-like labels: shared identities, 6 cameras, distractors and junk."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(MARKET["ids"] + 1, dim, generator=g)
    q_pids = torch.randint(1, MARKET["ids"] + 1, (MARKET["queries"],), generator=g)
    g_pids = torch.randint(-1, MARKET["ids"] + 1, (MARKET["gallery"],), generator=g)  # -1 junk, 0 distractor
    q_feats = centres[q_pids.clamp(min=0)] + 2.0 * torch.randn(MARKET["queries"], dim, generator=g)
    g_feats = centres[g_pids.clamp(min=0)] + 2.0 * torch.randn(MARKET["gallery"], dim, generator=g)
    q_cams = torch.randint(0, MARKET["cameras"], (MARKET["queries"],), generator=g)
    g_cams = torch.randint(0, MARKET["cameras"], (MARKET["gallery"],), generator=g)
    return q_feats, g_feats, q_pids, g_pids, q_cams, g_cams


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201 (any callable)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


@torch.no_grad()
def extraction_rate(
    backbone_name: str, device: torch.device, batch_size: int, batches: int, flip: bool
) -> float:
    model = create_backbone(backbone_name, (256, 128)).to(device).eval()
    x = torch.randn(batch_size, 3, 256, 128, device=device)

    def step() -> None:
        with autocast(device):
            feats = model(x)
            if flip:
                feats = feats + model(x.flip(-1))
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up
    _, seconds = timed(lambda: [step() for _ in range(batches)])
    return batch_size * batches / seconds


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
    rows = []
    for flip in (False, True):
        rate = extraction_rate(args.backbone, device, args.batch_size, args.batches, flip)
        rows.append(
            (
                f"feature extraction {args.backbone} 256x128, batch {args.batch_size}"
                f"{', flip' if flip else ''}",
                f"{rate:.1f} images/s",
            )
        )
    q, g, q_pids, g_pids, q_cams, g_cams = market_sized_problem(dim=192)
    dist, t_dist = timed(cosine_distance, q, g)
    ours, t_ours = timed(retrieval_metrics, dist, q_pids, g_pids, q_cams, g_cams)
    arrays = [a.numpy() for a in (dist, q_pids, g_pids, q_cams, g_cams)]
    loop, t_loop = timed(per_query_loop, *arrays)
    for key in ours:
        if not np.isclose(ours[key], loop[key], rtol=0, atol=1e-9):
            raise SystemExit(f"vectorised and loop metrics disagree on {key}: {ours[key]} vs {loop[key]}")
    rows += [
        ("cosine distance 3,368 x 15,913 (D=192)", f"{t_dist:.2f} s"),
        ("metrics, vectorised (saip.tasks.retrieval_metrics)", f"{t_ours:.2f} s"),
        ("metrics, per-query loop", f"{t_loop:.2f} s ({t_loop / t_ours:.1f}x slower)"),
    ]
    print(f"hardware: {hardware}; torch {torch.__version__}")
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"random-feature metrics (identical in both): mAP {ours['mAP']:.4f}, rank1 {ours['rank1']:.4f}")


if __name__ == "__main__":
    main()
