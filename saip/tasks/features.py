"""Feature extraction with a frozen (or evaluated) model: the shared step of every probe and test.

Why flip averaging: the field's ReID numbers average the features of an image and its mirror
image at test time; it is cheap and stabilises rankings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from saip.tasks.engine import autocast


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run in eval mode, then put back whatever train/eval mode the module was in."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def extract_features(
    model: Callable[[Tensor], Tensor],
    dataset: Dataset,
    *,
    device: torch.device,
    batch_size: int,
    num_workers: int = 0,
    flip: bool = False,
    amp: bool = True,
) -> Tensor:
    """[N, D] fp32 features on the CPU, in dataset order; item 0 of each sample is the image."""
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    chunks = []
    for batch in loader:
        images = batch[0].to(device, non_blocking=True)
        with autocast(device, amp):
            feats = model(images).float()
            if flip:
                feats = (feats + model(images.flip(-1)).float()) / 2
        chunks.append(feats.cpu())
    if not chunks:
        raise ValueError("no images to extract features from")
    return torch.cat(chunks)
