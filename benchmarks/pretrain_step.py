"""Images/s and peak memory of one full SAIP training step at the recipe's shapes.

Side by side in one process: `saip` as shipped (views grouped by (H, W), fused scaled-dot-product
attention, bf16 autocast on CUDA) against a baseline with the research code's attention path
(unfused softmax(q k^T) attention everywhere), same shapes, same synthetic tensors; the ratio is
what this repository claims. Then the data pipeline's images/s per worker.

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
from saip.train.step import train_step  # noqa: E402


def synthetic_batch(cfg: PretrainConfig, batch: int) -> dict[str, torch.Tensor]:
    g, loc, s = cfg.views.global_size, cfg.views.local_size, cfg.scene.size
    cells = (s[0] // 16, s[1] // 16)
    return {
        "global": torch.randn(batch, 2, 3, *g), "local": torch.randn(batch, cfg.views.num_local, 3, *loc),
        "half": torch.randn(batch, 3, g[0] // 2, g[1] // 2), "scene": torch.randn(batch, 3, *s),
        "inst_target": (torch.rand(batch, *cells) > 0.8).float(),
        "roi_target": (torch.rand(batch, *cells) > 0.8).float(),
        "index": torch.arange(batch), "num_skipped": torch.tensor(0),
    }


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process peak RSS (KiB on Linux)


def measure_step(cfg: PretrainConfig, device: torch.device, batch: int, steps: int, fused: bool) -> dict:
    set_fused_attn(fused)  # applies to modules built after this call
    ctx = build_context(cfg, device, Dist())
    data = synthetic_batch(cfg, batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train_step(ctx, [data], 0, momentum=0.996, seed=0)  # warm-up (allocations, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        train_step(ctx, [data], step, momentum=0.996, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    result = {"batch": batch, "fused_attention": fused, "img_per_s": batch * steps / seconds,
              "s_per_step": seconds / steps, "peak_mem_gib": peak_memory_gib(device)}
    del ctx
    set_fused_attn(True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--config", default=str(Path(__file__).parents[1] / "configs" / "vit_tiny_lup1m.yaml"))
    parser.add_argument("--pipeline-seconds", type=float, default=20.0, help="0 skips the data pipeline")
    parser.add_argument("--out", help="also write the results as JSON here")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg = load_config(PretrainConfig, args.config, args.overrides + [f"train.device={device.type}"])
    machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"# SAIP pretraining step, {cfg.model.backbone} at {tuple(cfg.model.img_size)}, K={cfg.csm.out_dim}, "
          f"{device.type} ({machine}), torch {torch.__version__}")
    rows = []
    for batch in args.batch_sizes:
        base = measure_step(cfg, device, batch, args.steps, fused=False)
        ours = measure_step(cfg, device, batch, args.steps, fused=True)
        ratio = ours["img_per_s"] / base["img_per_s"]
        rows.append({"saip": ours, "baseline_unfused": base, "speedup": ratio})
        print(f"batch {batch:4d}: saip {ours['img_per_s']:8.2f} img/s ({ours['peak_mem_gib']:.2f} GiB peak) | "
              f"baseline (unfused attention) {base['img_per_s']:8.2f} img/s | ratio {ratio:.2f}x")
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
