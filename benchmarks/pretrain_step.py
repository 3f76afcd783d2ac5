"""Images/s and peak memory of one full SAIP training step at the recipe's shapes.

Side by side in one process, steps interleaved: `saip` as shipped (fused scaled-dot-product
attention, the CSS scene side computed once for both searches, fused AdamW, bf16 autocast on CUDA)
against a baseline built from the same modules the way the research code runs them (unfused
softmax(q k^T) attention, the CSS mask head run once per search, AdamW's per-tensor loop), same
shapes, same synthetic tensors; the ratio is what this repository claims. Then the data
pipeline's images/s per worker.

    python benchmarks/pretrain_step.py --device cpu --batch-sizes 4 8
    python benchmarks/pretrain_step.py --device cuda --batch-sizes 64 256

Recipe shapes: 2 x 256x128 global views, 6 x 128x64 local views + 2 cross-scale views, a 224x224
scene, K = 65536 prototypes, CSR decoder 512x8, CSS decoder 512.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch
from timm.layers import set_fused_attn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from saip.config import PretrainConfig, load_config  # noqa: E402
from saip.train.loop import Dist, build_context  # noqa: E402
from saip.train.step import StepContext, train_step  # noqa: E402


def synthetic_batch(cfg: PretrainConfig, batch: int) -> dict[str, torch.Tensor]:
    g, loc, s = cfg.views.global_size, cfg.views.local_size, cfg.scene.size
    cells = (s[0] // 16, s[1] // 16)
    return {
        "global": torch.randn(batch, 2, 3, *g),
        "local": torch.randn(batch, cfg.views.num_local, 3, *loc),
        "half": torch.randn(batch, 3, g[0] // 2, g[1] // 2),
        "scene": torch.randn(batch, 3, *s),
        "inst_target": (torch.rand(batch, *cells) > 0.8).float(),
        "roi_target": (torch.rand(batch, *cells) > 0.8).float(),
        "index": torch.arange(batch),
        "num_skipped": torch.tensor(0),
    }


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process peak RSS (KiB on Linux)


def build(cfg: PretrainConfig, device: torch.device, baseline: bool) -> StepContext:
    set_fused_attn(not baseline)  # timm reads it when a module is built
    try:
        ctx = build_context(cfg, device, Dist())
    finally:
        set_fused_attn(True)
    if baseline:
        css = ctx.module.css_decoder
        if css is not None:  # one full decoder pass per search, scene side included
            shared = type(css).search
            css.search = lambda queries, scene, grid: [shared(css, [q], scene, grid)[0] for q in queries]
        ctx.optimizer = torch.optim.AdamW(
            ctx.optimizer.param_groups, betas=tuple(cfg.optim.betas), foreach=False
        )
    return ctx


def timed_step(ctx: StepContext, data: dict[str, torch.Tensor], step: int) -> tuple[float, float]:
    """Seconds of one full optimizer step, and the peak memory it reached (CUDA: this step alone)."""
    device = ctx.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    train_step(ctx, [data], step, momentum=0.996, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, peak_memory_gib(device)


def compare(cfg: PretrainConfig, device: torch.device, batch: int, rounds: int) -> dict:
    """Variants built side by side, steps interleaved (A, B, A, B, ...); the best round of each
    counts, so a burst of load on a shared machine cannot favour one variant."""
    variants = {"saip": build(cfg, device, baseline=False), "baseline": build(cfg, device, baseline=True)}
    data = synthetic_batch(cfg, batch)
    for ctx in variants.values():
        train_step(ctx, [data], 0, momentum=0.996, seed=0)  # warm-up: allocations, kernels
    times: dict[str, list[float]] = {name: [] for name in variants}
    peaks: dict[str, float] = dict.fromkeys(variants, 0.0)
    for step in range(1, rounds + 1):
        for name, ctx in variants.items():
            seconds, peak = timed_step(ctx, data, step)
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak)
    return {
        name: {
            "batch": batch,
            "img_per_s": batch / min(t),
            "best_s_per_step": min(t),
            "median_s_per_step": sorted(t)[len(t) // 2],
            "peak_mem_gib": peaks[name],
        }
        for name, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4])
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per variant, interleaved")
    parser.add_argument(
        "--config", default=str(Path(__file__).parents[1] / "configs" / "vit_tiny_lup1m.yaml")
    )
    parser.add_argument("--pipeline-seconds", type=float, default=20.0, help="0 skips the data pipeline")
    parser.add_argument("--out", help="also write the results as JSON here")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = load_config(PretrainConfig, args.config, args.overrides + [f"train.device={device.type}"])
    machine = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print(
        f"# SAIP pretraining step, {cfg.model.backbone} at {tuple(cfg.model.img_size)}, K={cfg.csm.out_dim}, "
        f"{device.type} ({machine}), torch {torch.__version__}"
    )
    rows = []
    for batch in args.batch_sizes:
        result = compare(cfg, device, batch, args.rounds)
        ours, base = result["saip"], result["baseline"]
        ratio = ours["img_per_s"] / base["img_per_s"]
        rows.append({**result, "speedup": ratio})
        print(
            f"batch {batch:4d}: saip {ours['img_per_s']:8.2f} img/s ({ours['peak_mem_gib']:.2f} GiB peak) | "
            f"baseline (research-code style) {base['img_per_s']:8.2f} img/s | ratio {ratio:.2f}x"
        )
    report = {"device": machine, "torch": torch.__version__, "steps": rows}
    if args.pipeline_seconds > 0:
        from data_pipeline import measure_pipeline

        pipe = measure_pipeline(cfg, workers=1, seconds=args.pipeline_seconds)
        report["pipeline"] = pipe
        print(f"data pipeline (1 worker, built-in synthetic people): {json.dumps(pipe)}")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
