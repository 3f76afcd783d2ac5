"""A long-lived process that times SAIP training steps on command, for `pretrain_step.py`.

It imports `saip` from wherever `PYTHONPATH` points (this tree or a baseline commit's worktree),
so it uses only the API every version has: `load_config`, `build_context`, `train_step`. Protocol:
on start it builds the variant, runs a warm-up step (and `--warmup-steps N` more: timed steps
1..N, so that a compiled variant has compiled their shapes) and one step under `FlopCounterMode`,
then prints `@@{"ready": ...}`; each `step` line on stdin runs one timed step and prints
`@@{"seconds": ...}`; `quit` (or end of input) stops it. Other output goes to stderr.

    PYTHONPATH=. python benchmarks/step_worker.py --variant saip --batch 4 --device cpu
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from timm.layers import set_fused_attn
from torch.utils.flop_counter import FlopCounterMode

import saip
import saip.data.views
from saip.config import PretrainConfig, load_config
from saip.train.loop import Dist, build_context
from saip.train.step import StepContext, train_step


def synthetic_batch(cfg: PretrainConfig, batch: int) -> dict[str, torch.Tensor]:
    """Random tensors with the loader's keys and shapes (seeded: every variant gets the same)."""
    g, loc, s = cfg.views.global_size, cfg.views.local_size, cfg.scene.size
    cells = (s[0] // 16, s[1] // 16)
    gen = torch.Generator().manual_seed(0)
    if hasattr(saip.data.views, "normalize_views"):  # this tree's loader ships uint8, half made on the device

        def image(*shape: int) -> torch.Tensor:
            return torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)

        extra = {}
    else:  # a baseline commit's loader: normalised float32 and a "half" view

        def image(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=gen)

        extra = {"half": image(batch, 3, g[0] // 2, g[1] // 2)}
    return extra | {
        "global": image(batch, 2, 3, *g),
        "local": image(batch, cfg.views.num_local, 3, *loc),
        "scene": image(batch, 3, *s),
        "inst_target": (torch.rand(batch, *cells, generator=gen) > 0.8).float(),
        "roi_target": (torch.rand(batch, *cells, generator=gen) > 0.8).float(),
        "index": torch.arange(batch),
        "num_skipped": torch.tensor(0),
    }


def build(cfg: PretrainConfig, device: torch.device, research: bool) -> StepContext:
    """`research`: the same modules run the way the research code runs them (unfused
    softmax(q k^T) attention, the CSS mask head once per search, AdamW's per-tensor loop)."""
    torch.manual_seed(0)
    set_fused_attn(not research)  # timm reads it when a module is built
    try:
        ctx = build_context(cfg, device, Dist())
    finally:
        set_fused_attn(True)
    if research:
        css = ctx.module.css_decoder
        if css is not None:  # one full decoder pass per search, scene side included
            shared = type(css).search
            css.search = lambda queries, scene, grid: [shared(css, [q], scene, grid)[0] for q in queries]
        ctx.optimizer = torch.optim.AdamW(
            ctx.optimizer.param_groups, betas=tuple(cfg.optim.betas), foreach=False
        )
    return ctx


def reply(**fields: object) -> None:
    sys.stdout.write("@@" + json.dumps(fields) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=["saip", "research"], default="saip")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--warmup-steps", type=int, default=0, help="untimed runs of timed steps 1..N")
    parser.add_argument("--config", required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    # train.precision: the config's (recipe bf16) on CUDA; build_context runs CPU in fp32.
    cfg = load_config(PretrainConfig, args.config, [*args.overrides, f"train.device={device.type}"])
    ctx = build(cfg, device, args.variant == "research")
    data = synthetic_batch(cfg, args.batch)
    start = time.perf_counter()
    train_step(ctx, [data], 0, momentum=0.996, seed=0)  # warm-up: allocations, kernels, caches
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    first_step_s = time.perf_counter() - start
    for step in range(1, args.warmup_steps + 1):
        train_step(ctx, [data], step, momentum=0.996, seed=0)
    with FlopCounterMode(display=False) as flops:  # forward + backward (+ the teacher's forward)
        train_step(ctx, [data], 0, momentum=0.996, seed=0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    reply(
        ready=True,
        saip=str(Path(saip.__file__).parent),
        flops=flops.get_total_flops(),
        first_step_s=first_step_s,
    )
    step = 0
    for line in sys.stdin:
        if line.strip() != "step":
            break
        step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        train_step(ctx, [data], step, momentum=0.996, seed=0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        reply(seconds=seconds, peak_mem_gib=peak)


if __name__ == "__main__":
    main()
