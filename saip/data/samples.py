"""One training sample from one person image, every random choice drawn from the sample's own seed.

Why per-sample seeds: a sample then depends only on (seed, epoch, sample key), not on the worker
that builds it or on what was built before, so runs reproduce across worker counts and resume
exactly in the middle of an epoch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from saip.config import PretrainConfig
from saip.data.images import NEUTRAL_RGB
from saip.data.scene import PickImage, SceneBuilder
from saip.data.sources import DataError, RandomAccessSource
from saip.data.views import MultiCropViews, half_view

# Other images (backgrounds, distractors) tried before giving up on one (a neutral background then).
OTHER_TRIES = 3
SAMPLE_KEYS = ("global", "local", "scene", "inst_target", "roi_target")


def sample_rng(seed: int, epoch: int, key: Sequence[int]) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, *key])


def pick_from(source: RandomAccessSource) -> PickImage:
    """A random readable image of a random-access source (None after OTHER_TRIES unreadable ones)."""

    def pick(rng: np.random.Generator) -> Image.Image | None:
        for _ in range(OTHER_TRIES):
            image = source.load(int(rng.integers(len(source)))).image
            if image is not None:
                return image
        return None

    return pick


class SampleMaker:
    """PIL person image -> dict of uint8 views [V, 3, H, W], the uint8 "scene" and its two 0/1 targets."""

    def __init__(self, cfg: PretrainConfig, backgrounds: PickImage | None) -> None:
        self.views = MultiCropViews(cfg.views)
        half = (cfg.views.global_size[0] // 2, cfg.views.global_size[1] // 2)
        self.scene = SceneBuilder(cfg.scene, inst_size=half, roi_size=tuple(cfg.views.local_size))
        self.backgrounds = backgrounds
        self.scene_size = tuple(cfg.scene.size)

    def __call__(self, image: Image.Image, rng: np.random.Generator, others: PickImage) -> dict[str, Tensor]:
        """`others` picks other person images (the default backgrounds and the distractors)."""
        with torch.random.fork_rng(devices=[]):  # v2 transforms draw from torch's global generator
            torch.default_generator.manual_seed(int(rng.integers(2**63)))
            pick = self.backgrounds or others
            views = self.views(image, backdrop=lambda: pick(rng))
            background = pick(rng)
            if background is None:
                background = Image.new("RGB", self.scene_size[::-1], NEUTRAL_RGB)
            inst = half_view(views["global"][0]).div_(255)  # what the step makes on the device
            roi = views["local"][-1].float().div_(255)
            scene = self.scene(background, inst, roi, rng, people=others)
        return views | scene


def collate(samples: list[dict[str, Tensor] | None]) -> dict[str, Tensor]:
    """Stack samples into a batch; `None` marks an unreadable image, counted in "num_skipped"."""
    good = [s for s in samples if s is not None]
    if not good:
        raise DataError(f"all {len(samples)} images of a batch were unreadable: check the data source")
    batch = {k: torch.stack([s[k] for s in good]) for k in SAMPLE_KEYS}
    batch["index"] = torch.tensor([int(s["index"]) for s in good], dtype=torch.long)
    skipped = sum(int(s["num_skipped"]) for s in good) + len(samples) - len(good)
    batch["num_skipped"] = torch.tensor(skipped, dtype=torch.long)
    return batch
