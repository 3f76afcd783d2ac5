"""The multi-person scene for Cross-scale Search (docs/method.md, last item of "Views").

Why targets come from pixel masks: a cell of the (Hs / cell, Ws / cell) grid is positive when at
least `cell_coverage` of its pixels show that person (the research code reads the top-left pixel of
each cell, which shifts targets by up to a cell). In `rich` mode later pastes hide earlier ones, and
a target keeps only what stays visible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import Tensor

from saip.config import SceneConfig
from saip.data.views import CropView, quantize, to_unit

# Backgrounds are square-ish crops of whatever image they come from (person images are about 2:1).
_BACKGROUND_SCALE = (0.3, 1.0)
_BACKGROUND_RATIO = (3 / 4, 4 / 3)

# Picks another image with the sample's generator (None: it was unreadable).
PickImage = Callable[[np.random.Generator], Image.Image | None]


@dataclass(frozen=True)
class Paste:
    """An image [3, h, w] in 0..1 placed with its top-left corner at (top, left)."""

    image: Tensor
    top: int
    left: int

    def mask(self, size: tuple[int, int]) -> Tensor:
        """Bool [H, W] of the pixels this paste covers in a scene of `size`."""
        out = torch.zeros(size, dtype=torch.bool)
        out[self.top : self.top + self.image.shape[-2], self.left : self.left + self.image.shape[-1]] = True
        return out


def compose(background: Tensor, pastes: list[Paste], alpha: float) -> tuple[Tensor, list[Tensor]]:
    """Paste in order (later on top) with `alpha` person / 1 - alpha below.

    Args:
        background: [3, H, W] in 0..1, like the pastes.
    Returns:
        The scene [3, H, W] and, per paste, the bool mask [H, W] of its pixels no later paste covers.
    """
    scene = background.clone()
    size = (scene.shape[-2], scene.shape[-1])
    for p in pastes:
        h, w = p.image.shape[-2:]
        if p.top < 0 or p.left < 0 or p.top + h > size[0] or p.left + w > size[1]:
            raise ValueError(f"paste of size {(h, w)} at {(p.top, p.left)} leaves the scene {size}")
        region = scene[:, p.top : p.top + h, p.left : p.left + w]
        region.mul_(1 - alpha).add_(p.image, alpha=alpha)
    masks = [p.mask(size) for p in pastes]
    visible, above = [], torch.zeros(size, dtype=torch.bool)
    for mask in reversed(masks):
        visible.append(mask & ~above)
        above |= mask
    return scene, visible[::-1]


def cell_targets(mask: Tensor, cell: int, coverage: float) -> Tensor:
    """Bool mask [H, W] -> float {0, 1} [H / cell, W / cell]: 1 where >= `coverage` of the cell is covered."""
    if mask.shape[-2] % cell or mask.shape[-1] % cell:
        raise ValueError(f"scene size {tuple(mask.shape)} is not a multiple of the cell size {cell}")
    covered = F.avg_pool2d(mask[None, None].float(), cell)[0, 0]
    return (covered >= coverage - 1e-6).float()


class SceneBuilder:
    """Background + the two target pastes (+ distractor people in `rich` mode) -> scene and targets.

    Placement draws come from the sample's numpy generator, crops of the background from torch's
    (seeded per sample by the caller).
    """

    def __init__(self, cfg: SceneConfig, inst_size: tuple[int, int], roi_size: tuple[int, int]) -> None:
        if cfg.mode not in ("recipe", "rich"):
            raise ValueError(f"scene.mode must be 'recipe' or 'rich', got {cfg.mode!r}")
        # A plain dataclass: OmegaConf attribute access costs microseconds on every sample.
        self.cfg = OmegaConf.to_object(cfg) if isinstance(cfg, DictConfig) else cfg
        self.size = (int(cfg.size[0]), int(cfg.size[1]))
        if max(inst_size[0], roi_size[0]) > self.size[0] or inst_size[1] + roi_size[1] > self.size[1]:
            raise ValueError(
                f"pastes {inst_size} and {roi_size} do not fit side by side in scene {self.size}"
            )
        self.background = CropView(self.size, _BACKGROUND_SCALE, _BACKGROUND_RATIO, gray_p=0.0)

    def __call__(
        self,
        background: Image.Image,
        inst: Tensor,
        roi: Tensor,
        rng: np.random.Generator,
        people: PickImage | None = None,
    ) -> dict[str, Tensor]:
        """Returns "scene" uint8 [3, Hs, Ws], "inst_target" and "roi_target" [Hs / cell, Ws / cell].

        `inst` and `roi` are float in 0..1; `people` picks the distractors of `rich` mode (unreadable ones, None, are left out).
        """
        pastes = self.place_side_by_side(inst, roi, rng)
        if self.cfg.mode == "rich" and people is not None:
            picked = [people(rng) for _ in range(int(rng.integers(0, self.cfg.max_distractors + 1)))]
            pastes += [self._distractor(img, rng) for img in picked if img is not None]
        order = rng.permutation(len(pastes))  # occlusion order: later pastes hide earlier ones
        scene, visible = compose(self.background(background), [pastes[i] for i in order], self.cfg.alpha)
        where = {int(i): k for k, i in enumerate(order)}
        return {
            "scene": quantize(scene),
            "inst_target": cell_targets(visible[where[0]], self.cfg.cell, self.cfg.cell_coverage),
            "roi_target": cell_targets(visible[where[1]], self.cfg.cell, self.cfg.cell_coverage),
        }

    def place_side_by_side(self, inst: Tensor, roi: Tensor, rng: np.random.Generator) -> list[Paste]:
        """The recipe's two pastes, random left/right order, disjoint column ranges, inside the scene."""
        (hs, ws), swap = self.size, bool(rng.random() < 0.5)
        first, second = (roi, inst) if swap else (inst, roi)
        left1 = int(rng.integers(0, ws - first.shape[-1] - second.shape[-1] + 1))
        left2 = int(rng.integers(left1 + first.shape[-1], ws - second.shape[-1] + 1))
        pastes = [
            Paste(first, int(rng.integers(0, hs - first.shape[-2] + 1)), left1),
            Paste(second, int(rng.integers(0, hs - second.shape[-2] + 1)), left2),
        ]
        return pastes[::-1] if swap else pastes

    def _distractor(self, img: Image.Image, rng: np.random.Generator) -> Paste:
        """Another person at a random height (fraction `scale_range` of the scene), aspect kept."""
        hs, ws = self.size
        h = max(1, round(rng.uniform(*self.cfg.scale_range) * hs))
        w = max(1, min(ws, round(h * img.width / img.height)))
        person = img.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
        if rng.random() < 0.5:
            person = person.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        top, left = int(rng.integers(0, hs - h + 1)), int(rng.integers(0, ws - w + 1))
        return Paste(to_unit(person), top, left)
