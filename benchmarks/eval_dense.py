"""Training and inference images/s of the dense and instance evaluation models (pose, parsing,
detection, multiparsing, fashion) on CPU and CUDA.

Run: `python benchmarks/eval_dense.py [--tasks pose parsing detection multiparsing fashion]
[--backbone vit_tiny] [--devices cpu cuda] [--seconds 10] [--pose-size 256 192]
[--parsing-size 480 480] [--detection-size 800 1344] [--multiparsing-size 512 853]
[--fashion-size 800 1333] [--pyramid-dim 256] [--batch-size N] [--threads N]`
A training step is what `saip eval` runs per batch: forward, the task's loss, backward, AdamW
(bf16 autocast on CUDA). Inference is the evaluation forward: with the flip test (two passes per
image) for pose and parsing, as `evaluate` runs it; for the instance tasks the detector's forward
with its post-processing (NMS): detection's Faster R-CNN, multiparsing's Mask R-CNN with the part
map (CIHP's 20 classes), fashion's Mask R-CNN with the attribute head (Fashionpedia's 46
categories and 294 attributes). Synthetic tensors, so the data pipeline is not measured; the
instance tasks' images have 8 random person (or garment) boxes each, with box-shaped masks, and
are resized by the detector to the size's short side (`detector.min_size`, `max_size`).
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
from saip.tasks.instance.attribute_detector import AttributeDetector
from saip.tasks.instance.cihp import CIHP_CLASSES
from saip.tasks.instance.detector import DetectorConfig, build_detector
from saip.tasks.instance.multiparser import MultiParser
from saip.tasks.multiparsing import MultiParsingSection
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


Steps = tuple[Callable[[], None], Callable[[], None]]  # (train step, inference step)


def dense_steps(task: str, backbone: str, size: tuple[int, int], batch: int, device: torch.device) -> Steps:
    """Pose's or parsing's `DenseModel`: its loss for training, the flip test for inference."""
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

    return train_step, infer_step


FASHIONPEDIA = (46, 294)  # categories, attributes of the real set (the evaluator reads its file)


def instance_model(
    task: str,
    backbone: str,
    size: tuple[int, int],
    device: torch.device,
    pyramid_dim: int,
    mask_head_dim: int,
) -> torch.nn.Module:
    """The detector `saip eval TASK` builds at `size` (short side, long side cap), the other heads
    at their defaults."""
    cfg = DetectorConfig(
        pyramid_dim=pyramid_dim, min_size=size[0], max_size=size[1], mask_head_dim=mask_head_dim
    )
    net = create_backbone(backbone, size, drop_path=0.1)
    amp = device.type == "cuda"
    if task == "detection":
        return build_detector(net, cfg, amp=amp)
    if task == "multiparsing":
        head = PartHead(net.embed_dim, net.mid_dim, len(CIHP_CLASSES), MultiParsingSection.head_width)
        return MultiParser(build_detector(net, cfg, amp=amp, kind="mask_rcnn"), head)
    categories, attributes = FASHIONPEDIA
    detector = build_detector(net, cfg, amp=amp, kind="mask_rcnn", num_classes=categories + 1)
    return AttributeDetector(detector, attributes)


def instance_targets(
    task: str, size: tuple[int, int], batch: int, device: torch.device
) -> list[dict[str, Tensor]]:
    """8 random boxes per image with the fields the task's training reads."""
    gen = torch.Generator().manual_seed(0)
    h, w = size
    corner = torch.rand(batch, 8, 2, generator=gen) * torch.tensor([w * 0.8, h * 0.5])
    extent = torch.rand(batch, 8, 2, generator=gen) * torch.tensor([w * 0.15, h * 0.4]) + 8
    targets = []
    for b in torch.cat([corner, corner + extent], -1):
        t = {"boxes": b, "labels": torch.ones(8, dtype=torch.long)}
        if task != "detection":
            masks = torch.zeros(8, h, w, dtype=torch.uint8)
            for k, (x0, y0, x1, y1) in enumerate(b.round().long().tolist()):
                masks[k, y0:y1, x0:x1] = 1
            t["masks"] = masks
        if task == "multiparsing":
            t["parts"] = torch.randint(0, len(CIHP_CLASSES), (h, w), generator=gen)
        if task == "fashion":
            t["labels"] = torch.randint(1, FASHIONPEDIA[0] + 1, (8,), generator=gen)
            t["attributes"] = (torch.rand(8, FASHIONPEDIA[1], generator=gen) < 0.02).float()
        targets.append({k: v.to(device) for k, v in t.items()})
    return targets


def instance_steps(
    task: str,
    backbone: str,
    size: tuple[int, int],
    batch: int,
    device: torch.device,
    pyramid_dim: int = 256,
    mask_head_dim: int = 256,
) -> Steps:
    """The task's detector: the sum of its loss terms for training, its forward for inference."""
    model = instance_model(task, backbone, size, device, pyramid_dim, mask_head_dim).to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    images = [torch.rand(3, *size, generator=gen).to(device) for _ in range(batch)]
    targets = instance_targets(task, size, batch, device)

    def train_step() -> None:
        model.train()
        total = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    def infer_step() -> None:
        model.eval()
        with torch.no_grad():
            model(images)

    return train_step, infer_step


MASK_TASKS = ("multiparsing", "fashion")  # Mask R-CNN: measured at each --mask-head-dims
INSTANCE_TASKS = ("detection", *MASK_TASKS)
TASKS = ("pose", "parsing", *INSTANCE_TASKS)


def measure(
    task: str,
    backbone: str,
    size: tuple[int, int],
    batch: int,
    device: torch.device,
    seconds: float,
    pyramid_dim: int = 256,
    mask_head_dim: int = 256,
) -> dict[str, Any]:
    if task in INSTANCE_TASKS:
        train_step, infer_step = instance_steps(
            task, backbone, size, batch, device, pyramid_dim, mask_head_dim
        )
    else:
        train_step, infer_step = dense_steps(task, backbone, size, batch, device)
    train_s, infer_s = timed(train_step, device, seconds), timed(infer_step, device, seconds)
    return {
        "task": task,
        "backbone": backbone,
        "input": list(size),
        "device": str(device),
        "batch": batch,
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        **({"mask_head_dim": mask_head_dim} if task in MASK_TASKS else {}),
        "train_images_per_s": round(batch / train_s, 2),
        "infer_images_per_s": round(batch / infer_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--backbone", default="vit_tiny")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="cuda is skipped when absent")
    parser.add_argument("--seconds", type=float, default=10.0, help="timing window per measurement")
    parser.add_argument("--pose-size", type=int, nargs=2, default=[256, 192], metavar=("H", "W"))
    parser.add_argument("--parsing-size", type=int, nargs=2, default=[480, 480], metavar=("H", "W"))
    parser.add_argument(
        "--detection-size", type=int, nargs=2, default=[800, 1344], metavar=("H", "W"), help="min / max side"
    )
    parser.add_argument("--multiparsing-size", type=int, nargs=2, default=[512, 853], metavar=("H", "W"))
    parser.add_argument("--fashion-size", type=int, nargs=2, default=[800, 1333], metavar=("H", "W"))
    parser.add_argument(
        "--batch-size",
        type=int,
        help="default: 8 on CPU; 64 (pose), 16 (parsing), 8 (instance tasks) on CUDA",
    )
    parser.add_argument("--pyramid-dim", type=int, default=256, help="the instance tasks' pyramid channels")
    parser.add_argument(
        "--mask-head-dims",
        type=int,
        nargs="+",
        default=[256],
        help="Mask R-CNN mask-head widths, each measured (the first is the baseline of the ratios)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's); 1 on a loaded machine")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in args.devices:
        if name == "cuda" and not torch.cuda.is_available():
            continue
        device = torch.device(name)
        for task, size, cuda_batch in (
            ("pose", args.pose_size, 64),
            ("parsing", args.parsing_size, 16),
            ("detection", args.detection_size, 8),
            ("multiparsing", args.multiparsing_size, 8),
            ("fashion", args.fashion_size, 8),
        ):
            if task not in args.tasks:
                continue
            batch = args.batch_size or (cuda_batch if device.type == "cuda" else 8)
            rows = [
                measure(task, args.backbone, tuple(size), batch, device, args.seconds, args.pyramid_dim, dim)
                for dim in (args.mask_head_dims if task in MASK_TASKS else [256])
            ]
            for row in rows:
                if len(rows) > 1:
                    for key in ("train_images_per_s", "infer_images_per_s"):
                        row[key.replace("images_per_s", "ratio")] = round(row[key] / rows[0][key], 2)
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
