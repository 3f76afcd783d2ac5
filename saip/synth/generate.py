"""The Python entry point: write the dataset(s) of a preset into a folder."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from saip.errors import make_output_dir
from saip.synth.presets import PRESETS

log = logging.getLogger(__name__)


def preset_names() -> list[str]:
    return [*PRESETS, "all"]


def generate(
    preset: str,
    out: str | Path,
    seed: int = 0,
    workers: int = 1,
    limit: int | None = None,
    scale: float = 1.0,
) -> Path:
    """Write preset `preset` into `out` (for "all": one subfolder per preset); returns `out`.

    Args:
        seed: everything is derived from it: same seed and options, byte-identical files.
        workers: processes to render with (the output does not depend on it).
        limit: at most this many images per split, for quick checks.
        scale: multiplies every split's size (identities for ReID and text), e.g. 10 for a set
            big enough to train on (> 0, checked by `split_size`); `limit` still caps the result.
    """
    if preset not in PRESETS and preset != "all":
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(preset_names())}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    out = Path(out)
    targets = {name: out / name for name in PRESETS} if preset == "all" else {preset: out}
    for name, folder in targets.items():
        start = time.perf_counter()
        make_output_dir(folder)
        PRESETS[name](folder, seed, workers, limit, scale)
        log.info("synth %s: wrote %s in %.1f s", name, folder, time.perf_counter() - start)
    return out
