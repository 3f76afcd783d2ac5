"""Training and inference images/s of the dense evaluation models (pose, parsing) on CPU and CUDA.

Run: `python benchmarks/eval_dense.py [--backbone vit_tiny] [--devices cpu cuda] [--seconds 10]
[--pose-size 256 192] [--parsing-size 480 480] [--batch-size N] [--threads N]`
A training step is what `saip eval` runs per batch: forward, the task's loss, backward, AdamW
(bf16 autocast on CUDA). Inference is the evaluation forward with the flip test (two passes per
image), as `evaluate` runs it. Synthetic tensors, so the data pipeline is not measured.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from saip.models.backbone import create_backbone
from saip.tasks.dense.flip import flip_test, swap_index
from saip.tasks.dense.heads import DenseModel, HeatmapHead, PartHead, final_stride
from saip.tasks.dense.keypoints import COCO_BODY
from saip.tasks.dense.lip import LIP_CLASSES, LIP_PAIRS
from saip.tasks.engine import autocast
from saip.tasks.parsing import part_loss
from saip.tasks.pose import heatmap_loss


def build(task: str, backbone_name: str, size: tuple[int, int]) -> tuple[DenseModel, Callable, Any]:
    """The task's model, loss and flip index at input `size` (H, W)."""
    backbone = create_backbone(backbone_name, size, drop_path=0.1)
    if task == "pose":
        head = HeatmapHead(backbone.embed_dim, COCO_BODY.num, final_stride(backbone))
        return DenseModel(backbone, head, mid=False), heatmap_loss, COCO_BODY.flip_index()
    head = PartHead(backbone.embed_dim, backbone.mid_dim, len(LIP_CLASSES))
    return DenseModel(backbone, head, mid=True), part_loss, swap_index(len(LIP_CLASSES), LIP_PAIRS)


def fake_batch(task: str, size: tuple[int, int], batch: int, device: torch.device) -> dict[str, Tensor]:
    h, w = size
    out = {"image": torch.randn(batch, 3, h, w, device=device)}
    if task == "pose":
        out["target"] = torch.rand(batch, COCO_BODY.num, h // 4, w // 4, device=device)
        out["weight"] = torch.ones(batch, COCO_BODY.num, device=device)
    else:
        out["label"] = torch.randint(0, len(LIP_CLASSES), (batch, h, w), device=device)
    return out


def timed(step: Callable[[], None], device: torch.device, seconds: float) -> float:
    """Seconds per call of `step`, after two warm-up calls, over about `seconds`."""
    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls < 2:
        step()
        calls += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - start) / calls


def measure(
    task: str, backbone: str, size: tuple[int, int], batch: int, device: torch.device, seconds: float
) -> dict[str, Any]:
    model, loss, flip_index = build(task, backbone, size)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    data = fake_batch(task, size, batch, device)

    def train_step() -> None:
        model.train()
        with autocast(device):
            total = loss(model, data)["loss"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    def infer_step() -> None:
        model.eval()
        with torch.no_grad(), autocast(device):
            flip_test(model, data["image"], flip_index)

    train_s, infer_s = timed(train_step, device, seconds), timed(infer_step, device, seconds)
    return {
        "task": task,
        "backbone": backbone,
        "input": list(size),
        "device": str(device),
        "batch": batch,
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "train_images_per_s": round(batch / train_s, 2),
        "infer_images_per_s": round(batch / infer_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="vit_tiny")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="cuda is skipped when absent")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing window per measurement")
    parser.add_argument("--pose-size", type=int, nargs=2, default=[256, 192], metavar=("H", "W"))
    parser.add_argument("--parsing-size", type=int, nargs=2, default=[480, 480], metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, help="default: 8 on CPU, 64 (pose) / 16 (parsing) on CUDA")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's); 1 on a loaded machine")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in args.devices:
        if name == "cuda" and not torch.cuda.is_available():
            continue
        device = torch.device(name)
        for task, size, cuda_batch in (("pose", args.pose_size, 64), ("parsing", args.parsing_size, 16)):
            batch = args.batch_size or (cuda_batch if device.type == "cuda" else 8)
            print(
                json.dumps(measure(task, args.backbone, tuple(size), batch, device, args.seconds)), flush=True
            )


if __name__ == "__main__":
    main()
