"""Images/s, MFU and peak memory of one full SAIP training step, against baselines, side by side.

Every variant runs in its own long-lived process (`step_worker.py`) with `PYTHONPATH` on its own
tree, and the processes take strictly alternating steps (never two at once), so a burst of load
on a shared machine hits both variants of a pair alike; the ratio is the median of the per-round
ratios. Baselines:
- `git:REV`: that commit of this repository, checked out in a temporary `git worktree`;
- `research`: this tree's modules run the way the research code runs them (unfused
  softmax(q k^T) attention, the CSS mask head once per search, AdamW's per-tensor loop);
- `eager`: this tree eager (`train.compile=false`) against itself compiled (`train.compile=true`);
  both first run every timed step once untimed, so that the rounds time no compiling.

One JSON line per (variant pair, batch): batch, baseline, img_per_s and baseline_img_per_s (batch
over the median step), ratio_median, peak_mem_gib (CUDA: `max_memory_allocated` after warm-up;
null on CPU), device, mfu (FLOPs of one step by `torch.utils.flop_counter`, forward and backward,
over the median step time and the matmul peak measured here first), first_step_s (the first
warm-up step: with compile, mostly compiling) and the baseline's.

    python benchmarks/pretrain_step.py --device cpu --batch-sizes 2 4 --rounds 5
    python benchmarks/pretrain_step.py --device cuda --batch-sizes 64 256  # bf16 (the recipe's)
    python benchmarks/pretrain_step.py --device cuda --batch-sizes 64 --baseline eager  # compile's gain

Recipe shapes (configs/vit_tiny_lup1m.yaml): 2 x 256x128 global views, 6 x 128x64 local views +
2 cross-scale views, a 224x224 scene, K = 65536 prototypes, CSR decoder 512x8, CSS decoder 512.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "step_worker.py"
DEFAULT_BASELINES = ["git:077613f", "research"]
# Overrides of (ours, the baseline) per baseline; the others compare the trees' defaults.
PAIR_OVERRIDES = {"eager": (["train.compile=true"], ["train.compile=false"])}


def machine_name(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip()
        for line in cpuinfo.read_text().splitlines()
        if line.startswith("model name")
    ]
    cpu = names[0] if names else platform.processor() or platform.machine()
    return f"{cpu}, {threads} thread(s) of {os.cpu_count()} cores"


def matmul_peak(device: torch.device, seconds: float = 3.0) -> float:
    """Best FLOP/s of a square matmul in the step's dtype (CUDA bf16, CPU fp32)."""
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


@contextlib.contextmanager
def baseline_tree(spec: str) -> Iterator[tuple[Path, str]]:
    """(tree, variant) for a baseline: `git:REV` in a temporary worktree, `research` and `eager` here."""
    if spec in ("research", "eager"):
        yield ROOT, "saip" if spec == "eager" else "research"
        return
    rev = spec.removeprefix("git:")
    with tempfile.TemporaryDirectory(prefix="saip_baseline_") as tmp:
        tree = Path(tmp) / rev
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
            check=True,
            capture_output=True,
        )
        try:
            yield tree, "saip"
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


class Worker:
    """One variant's step process; `step()` blocks until its step is done."""

    def __init__(
        self,
        tree: Path,
        variant: str,
        args: argparse.Namespace,
        batch: int,
        overrides: list[str],
        warmup: int,
    ) -> None:
        config = Path(args.config)
        config = config if config.is_absolute() else tree / config  # each tree reads its own copy
        # The tree first (its saip wins), then the caller's path (packages carried in, e.g. /tmp/site).
        path = [str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        cmd = [
            sys.executable,
            str(WORKER),
            "--variant",
            variant,
            "--batch",
            str(batch),
            "--device",
            args.device,
        ]
        cmd += ["--threads", str(args.threads), "--warmup-steps", str(warmup), "--config", str(config)]
        cmd += [*args.overrides, *overrides]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tree
        )
        self.info: dict = {}
        self.times: list[float] = []
        self.peak: float | None = None

    def wait_ready(self) -> None:
        """Block until the worker has built its variant and run its warm-up steps (untimed)."""
        self.info = self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            if line.startswith("@@"):
                return json.loads(line[2:])
        raise RuntimeError(f"step worker exited with code {self.proc.wait()}")

    def step(self) -> float:
        self.proc.stdin.write("step\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        out = self._read()
        self.times.append(out["seconds"])
        if out["peak_mem_gib"] is not None:
            self.peak = max(self.peak or 0.0, out["peak_mem_gib"])
        return out["seconds"]

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write("quit\n")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait()


def compare(ours: Worker, base: Worker, rounds: int) -> list[float]:
    """Strictly alternated steps; the per-round ratios base / ours (order swapped every round)."""
    ratios = []
    for r in range(rounds):
        first, second = (ours, base) if r % 2 == 0 else (base, ours)
        first.step()
        second.step()
        ratios.append(base.times[-1] / ours.times[-1])
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4])
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per variant, alternated")
    parser.add_argument(
        "--baseline",
        nargs="+",
        default=None,
        help=f"git:REV, research and/or eager (default {DEFAULT_BASELINES})",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads per process (default: 1 on CPU)"
    )
    parser.add_argument(
        "--config", default="configs/vit_tiny_lup1m.yaml", help="relative: read from each tree"
    )
    parser.add_argument("--pipeline-seconds", type=float, default=0.0, help="also time the data pipeline")
    parser.add_argument("--out", help="also append the JSON lines here")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides, for every variant")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # still remove the worktree, stop workers
    device = torch.device(args.device)
    args.threads = args.threads if args.threads is not None else (1 if device.type == "cpu" else 0)
    if device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    baselines = args.baseline or [
        b for b in DEFAULT_BASELINES if b == "research" or _commit_exists(b.removeprefix("git:"))
    ]
    machine, peak = machine_name(device, torch.get_num_threads()), matmul_peak(device)
    print(f"# {machine}, torch {torch.__version__}, matmul peak {peak / 1e9:.1f} GFLOP/s", file=sys.stderr)
    for spec in baselines:
        with baseline_tree(spec) as (tree, variant):
            for batch in args.batch_sizes:
                ours_over, base_over = PAIR_OVERRIDES.get(spec, ([], []))
                warmup = args.rounds if spec in PAIR_OVERRIDES else 0
                ours = Worker(ROOT, "saip", args, batch, ours_over, warmup)
                base = Worker(tree, variant, args, batch, base_over, warmup)
                try:  # both start up at once: building and warm-up are not timed
                    ours.wait_ready()
                    base.wait_ready()
                    ratios = compare(ours, base, args.rounds)
                finally:
                    ours.close()
                    base.close()
                row = _row(spec, batch, ours, base, ratios, machine, peak)
                print(json.dumps(row), flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
    if args.pipeline_seconds > 0:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from data_pipeline import measure_pipeline

        from saip.config import PretrainConfig, load_config

        cfg = load_config(PretrainConfig, ROOT / args.config, args.overrides)
        print(json.dumps({"pipeline": measure_pipeline(cfg, workers=1, seconds=args.pipeline_seconds)}))


def _commit_exists(rev: str) -> bool:
    probe = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{rev}^{{commit}}"], capture_output=True
    )
    return probe.returncode == 0


def _row(
    spec: str, batch: int, ours: Worker, base: Worker, ratios: list[float], machine: str, peak: float
) -> dict:
    median = statistics.median
    return {
        "batch": batch,
        "baseline": spec,
        "img_per_s": batch / median(ours.times),
        "baseline_img_per_s": batch / median(base.times),
        "ratio_median": median(ratios),
        "peak_mem_gib": ours.peak,
        "baseline_peak_mem_gib": base.peak,
        "device": machine,
        "mfu": ours.info["flops"] / median(ours.times) / peak,
        "baseline_mfu": base.info["flops"] / median(base.times) / peak,
        "first_step_s": ours.info["first_step_s"],
        "baseline_first_step_s": base.info["first_step_s"],
        "gflop_per_img": ours.info["flops"] / batch / 1e9,
        "baseline_gflop_per_img": base.info["flops"] / batch / 1e9,
        "rounds": len(ratios),
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    main()
