"""Schedules as pure functions of the global optimizer step.

Why functions of the step and not stateful schedulers: a resumed run only needs the step to be
exactly where the uninterrupted run was, and `--max-steps` can stop early without changing the
schedule (its length comes from the config, DINO/DINOv2-style).
"""

from __future__ import annotations

import math


def cosine(step: int, total: int, start: float, end: float) -> float:
    """Half-cosine from `start` at step 0 to `end` at step `total` (clamped beyond)."""
    if total <= 0:
        return end
    progress = min(max(step / total, 0.0), 1.0)
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * progress))


def warmup_cosine(step: int, total: int, warmup: int, peak: float, final: float = 0.0) -> float:
    """Linear warm-up from 0 to `peak` over `warmup` steps, then cosine down to `final` at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return cosine(step - warmup, total - warmup, peak, final)


def ema_momentum(step: int, total: int, base: float) -> float:
    """Teacher momentum: cosine from `base` to 1.0 over ALL optimizer steps (not the epoch's)."""
    return cosine(step, total, base, 1.0)


def linear_warmup(step: int, warmup: int, start: float, end: float) -> float:
    """Linear from `start` at step 0 to `end` at step `warmup`, then `end` (DINO's teacher temperature)."""
    if step >= warmup:
        return end
    return start + (end - start) * step / warmup
