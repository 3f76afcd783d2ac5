"""Inference of an exported backbone on CPU: eager torch, torch.compile, onnxruntime fp32 and int8,
side by side in one process, ms per image at each batch size and thread count, with parity.

    python benchmarks/inference.py [--backbone vit_tiny] [--weights none] [--img-size 256 128]
        [--batches 1 32] [--threads 1 2] [--rounds 5] [--variants eager compile onnx int8]
        [--reid ROOT]

Within one (threads, batch) cell the variants take turns call by call (the order rotating each
round), so a machine whose load drifts slows them alike; the ratio to eager is the number to read.
`compile` is rebuilt for each thread count (inductor bakes the thread count into its kernels); its
first call in a cell includes compiling for that shape. Parity: max |x - eager| and the cosine of
each embedding to eager's on the cell's random batch; with `--reid` (default: pku-reid in ../shared/data when present), the frozen
ReID mAP of eager, onnx and int8 features.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from saip.export.int8 import feature_cosine, quantize_int8
from saip.export.onnx import INPUT, export_onnx, session
from saip.export.weights import load_backbone
from saip.models.backbone import Backbone

PKU_REID = Path(__file__).resolve().parents[2] / "shared" / "data" / "pku-reid"
VARIANTS = ["eager", "compile", "onnx", "int8"]
Run = Callable[[Tensor], np.ndarray]


class SessionModule(nn.Module):
    """An onnxruntime session as a module, so that saip's probe code can run it."""

    def __init__(self, sess) -> None:  # noqa: ANN001 (onnxruntime.InferenceSession)
        super().__init__()
        self.sess = sess

    def forward(self, x: Tensor) -> Tensor:
        return torch.from_numpy(self.sess.run(["embedding"], {INPUT: x.numpy()})[0])


def runners(backbone: Backbone, files: dict[str, Path], variants: list[str], threads: int) -> dict[str, Run]:
    """One callable per variant, images [B, 3, H, W] -> embeddings [B, D] as numpy, at `threads`."""
    torch.set_num_threads(threads)
    out: dict[str, Run] = {}
    for name in variants:
        if name == "eager":
            out[name] = lambda x: backbone(x).numpy()
        elif name == "compile":
            torch._dynamo.reset()
            compiled = torch.compile(backbone)
            out[name] = lambda x, m=compiled: m(x).numpy()
        else:
            sess = session(files[name], threads)
            out[name] = lambda x, s=sess: s.run(["embedding"], {INPUT: x.numpy()})[0]
    return out


def measure(run: dict[str, Run], x: Tensor, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """(median ms per image, first-call seconds: compile's includes compiling) of each variant,
    calls interleaved."""
    first = {}
    for name, fn in run.items():
        start = time.perf_counter()
        fn(x)  # warm-up; compile compiles for this shape here
        first[name] = time.perf_counter() - start
        fn(x)
    calls = max(1, 8 // x.shape[0])  # small batches: several calls per sample, so timers resolve
    times: dict[str, list[float]] = {name: [] for name in run}
    names = list(run)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            for _ in range(calls):
                run[name](x)
            times[name].append((time.perf_counter() - start) * 1000 / (calls * x.shape[0]))
    return {name: statistics.median(t) for name, t in times.items()}, first


def parity(run: dict[str, Run], x: Tensor) -> dict[str, tuple[float, float, float]]:
    """Per variant: (max |x - eager|, mean cosine, min cosine) on one batch."""
    want = run["eager"](x)
    out = {}
    for name, fn in run.items():
        got = fn(x)
        cos = feature_cosine([got], [want])
        out[name] = (float(np.abs(got - want).max()), float(cos.mean()), float(cos.min()))
    return out


def reid_map(backbone: Backbone, files: dict[str, Path], root: Path, threads: int) -> dict[str, float]:
    """Frozen ReID mAP (saip's probe: query vs gallery, cosine) with eager, onnx and int8 features."""
    from saip.tasks.reid import frozen_probe

    torch.set_num_threads(threads)
    models: dict[str, nn.Module] = {"eager": backbone}
    models |= {name: SessionModule(session(path, threads)) for name, path in files.items()}
    cpu = torch.device("cpu")
    return {
        name: frozen_probe(m, root, device=cpu, batch_size=32, img_size=backbone.img_size)["mAP"]
        for name, m in models.items()
    }


def _markdown(r: dict[str, object]) -> str:
    return (
        f"| {r['threads']} | {r['batch']} | {r['variant']} | {r['ms_per_img']:.2f} | {r['speedup']:.2f}x | "
        f"{r['first_call_s']:.1f} | {r['max_diff']:.1e} | {r['cos_mean']:.5f} / {r['cos_min']:.5f} |"
    )


def machine() -> str:
    import onnxruntime

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (load average {load}), "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    )


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vit_tiny")
    parser.add_argument("--weights", default="none", help="any `saip.load_backbone` source")
    parser.add_argument("--img-size", type=int, nargs=2, default=[256, 128], metavar=("H", "W"))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    parser.add_argument("--reid", default=str(PKU_REID), help="Market-1501-layout folder; '' to skip")
    args = parser.parse_args(argv)
    if "eager" not in args.variants:
        parser.error("--variants must include eager, the reference")
    size = tuple(args.img_size)
    backbone = load_backbone(args.weights, backbone=args.backbone, img_size=size).eval()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        files: dict[str, Path] = {}
        if {"onnx", "int8"} & set(args.variants):
            files["onnx"] = export_onnx(backbone, Path(tmp) / "backbone.onnx").path
        if "int8" in args.variants:
            images = torch.randn(8, 3, *size, generator=torch.Generator().manual_seed(0)).numpy()
            q = quantize_int8(files["onnx"], images, min_mean=0.0, min_cosine=0.0)  # reported, not enforced
            files["int8"] = q.path
            print(
                f"int8 vs fp32 graph, 8 random images: cosine mean {q.cosine_mean:.4f}, min {q.cosine_min:.4f}"
            )
        files = {k: v for k, v in files.items() if k in args.variants}
        print(f"{args.backbone} {size[0]}x{size[1]}, weights {args.weights}; {machine()}")
        print(
            "| threads | batch | variant | ms/img (median) | vs eager | first call s | max abs diff | cosine mean / min |"
        )
        print("|---|---|---|---|---|---|---|---|", flush=True)
        for threads in args.threads:
            run = runners(backbone, files, args.variants, threads)
            for batch in args.batches:
                x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(batch))
                ms, first = measure(run, x, args.rounds)
                checks = parity(run, x)
                for name in run:
                    row = {
                        "threads": threads,
                        "batch": batch,
                        "variant": name,
                        "ms_per_img": ms[name],
                        "speedup": ms["eager"] / ms[name],
                        "first_call_s": first[name],
                        **dict(zip(("max_diff", "cos_mean", "cos_min"), checks[name], strict=True)),
                    }
                    rows.append(row)
                    print(_markdown(row), flush=True)
        reid = {}
        if args.reid and Path(args.reid).is_dir():
            reid = reid_map(backbone, files, Path(args.reid), max(args.threads))
    if reid:
        print(f"frozen ReID mAP on {args.reid}: " + ", ".join(f"{k} {v:.4f}" for k, v in reid.items()))
        rows.append({"variant": "reid_mAP", **reid})
    return rows


if __name__ == "__main__":
    main()
