"""How many images (or identities) a split gets: the preset's count, scaled, then capped."""

from __future__ import annotations


def split_size(count: int, scale: float = 1.0, limit: int | None = None) -> int:
    """`count` x `scale` (at least 1; `--scale` grows or shrinks a preset), capped at `limit`."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    n = max(1, round(count * scale))
    return n if limit is None else min(n, limit)
