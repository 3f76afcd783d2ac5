"""The online frozen ReID probe of `saip pretrain`: its data, its random-init reference, one probe.

Why a random-init reference: a probe curve alone proves nothing (a random ViT already scores above
zero); the same probe on untrained backbones of the same architecture, size and input is the line
the curve must rise above. Why probe the exported network: the number then says what the weights
a user gets are worth (`saip eval reid --protocol frozen reid.flip_test=false` on them gives it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from saip.config import ConfigError, PretrainConfig
from saip.models.backbone import Backbone, create_backbone

log = logging.getLogger(__name__)

# The real probe set beside the project (the developers' and CI's `../shared`), used by `auto`.
PKU_REID = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pku-reid"
SYNTH_PROBE_IMAGES = 60  # per split: a probe of a few seconds that still ranks real differences
RANDOM_INIT_SEEDS = (0, 1, 2)


def is_market_layout(root: Path) -> bool:
    return (root / "query").is_dir() and (root / "bounding_box_test").is_dir()


def resolve_probe_data(probe_data: str, run_path: Path, seed: int) -> tuple[str, str]:
    """`train.probe_data` -> (absolute root or "" for no probe, probe set name).

    `auto`: pku-reid beside the project when it is there, else `synth`; `synth` renders a small
    synthetic Market-1501-layout set once into the run directory; anything else is a folder in
    the Market-1501 layout (its query/ and bounding_box_test/ are used).
    """
    if not probe_data:
        return "", ""
    if probe_data == "auto":
        probe_data = str(PKU_REID) if is_market_layout(PKU_REID) else "synth"
    if probe_data == "synth":
        root = run_path / "probe_reid"
        if not is_market_layout(root):
            from saip.synth import generate  # the synthetic probe set; imported only when used

            generate("reid", root, seed=seed, limit=SYNTH_PROBE_IMAGES)
        return str(root.resolve()), "synth"
    root = Path(probe_data).expanduser().resolve()
    if not is_market_layout(root):
        raise ConfigError(
            f"train.probe_data={probe_data}: needs query/ and bounding_box_test/ (Market-1501 layout)"
        )
    return str(root), "pku-reid" if root == PKU_REID.resolve() else root.name


def probe(backbone: Backbone, root: str, img_size: tuple[int, int], device: torch.device) -> dict[str, float]:
    """Frozen ReID protocol (cosine on the global embedding, no flip) on `root`'s query vs gallery.

    The global RNG is left as it was (the loader draws a seed from it), so probing never changes
    the training that follows: a resumed run stays exact."""
    from saip.tasks.reid import frozen_probe  # evaluation code only when a probe is configured

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        return frozen_probe(backbone, root, device=device, img_size=img_size)


def random_init_reference(cfg: PretrainConfig, root: str, device: torch.device) -> float:
    """Mean probe mAP of untrained backbones (seeds `RANDOM_INIT_SEEDS`), global RNG untouched."""
    scores = []
    for seed in RANDOM_INIT_SEEDS:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone = create_backbone(cfg.model.backbone, tuple(cfg.model.img_size), cfg.model.mid_block)
        scores.append(probe(backbone.to(device), root, tuple(cfg.model.img_size), device)["mAP"])
    log.info("probe: random-init mAP %s (mean %.4f)", " ".join(f"{s:.4f}" for s in scores), sum(scores) / 3)
    return sum(scores) / len(scores)
