"""AdamW step time over the SAIP student's trainable parameters: fused kernel vs the default loops.

python benchmarks/optimizer_step.py [--device cpu|cuda] [--config configs/vit_tiny_lup1m.yaml]
"""

from __future__ import annotations

import argparse
import time

import torch

from saip.config import PretrainConfig, load_config
from saip.models.saip import SAIPStudent


def time_step(params: list[torch.nn.Parameter], device: torch.device, repeats: int, **kwargs: bool) -> float:
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05, **kwargs)
    optimizer.step()  # state allocation
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", default="configs/vit_tiny_lup1m.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    student = SAIPStudent(load_config(PretrainConfig, args.config)).to(device)
    params = [p for p in student.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p)
    count = sum(p.numel() for p in params) / 1e6
    loop = time_step(params, device, args.repeats, foreach=False)
    foreach = time_step(params, device, args.repeats, foreach=True)
    fused = time_step(params, device, args.repeats, fused=True)
    print(
        f"AdamW over {count:.1f}M parameters on {device}: per-tensor loop {loop * 1e3:.0f} ms, "
        f"foreach {foreach * 1e3:.0f} ms, fused {fused * 1e3:.0f} ms "
        f"(fused is {loop / fused:.1f}x the loop, {foreach / fused:.1f}x foreach)"
    )


if __name__ == "__main__":
    main()
