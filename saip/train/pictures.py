"""What the model learned, as one PNG per picture step, on the same fixed sample at every step.

Rows: the student's views at their true relative scales; CSR input / mask / reconstruction /
target; the CSS scene with each search's predicted mask as a heat map and the true region
outlined; the teacher's last-block class-token attention per head, overlaid on global view 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD  # noqa: E402
from torch import Tensor  # noqa: E402

from saip.objectives.csr import patchify, unpatchify  # noqa: E402

if TYPE_CHECKING:
    from saip.train.step import MicroBatch, StepContext


def to_image(x: Tensor) -> np.ndarray:
    """A normalised float (or a loader's uint8) [3, H, W] tensor -> an [H, W, 3] array in 0..1."""
    if x.dtype == torch.uint8:
        return x.cpu().permute(1, 2, 0).numpy() / 255.0
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD).view(3, 1, 1)
    return (x.detach().float().cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def _reconstruction(pred: Tensor, image: Tensor, grid: tuple[int, int], patch: int, norm_pix: bool) -> Tensor:
    """Un-normalise per-patch predictions with the target's patch statistics (MAE's display trick)."""
    pred = pred.detach().float().cpu().unsqueeze(0)
    if norm_pix:
        target = patchify(image.detach().float().cpu().unsqueeze(0), patch)
        pred = pred * (target.var(-1, keepdim=True) + 1e-6).sqrt() + target.mean(-1, keepdim=True)
    return unpatchify(pred, grid, patch, 3)[0]


def _cls_attention(qkv: tuple[Tensor, Tensor, Tensor], grid: tuple[int, int]) -> np.ndarray | None:
    """Class-token attention to the patches per head [H, Hp, Wp]; None without a class token."""
    q, k, _ = (t[0].detach().float().cpu() for t in qkv)  # [heads, N, d]
    n = grid[0] * grid[1]
    if q.shape[1] != n + 1:
        return None
    attn = torch.softmax(q[:, :1] @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)[:, 0, 1:]
    return attn.reshape(-1, *grid).numpy()


def _heat(ax: plt.Axes, image: np.ndarray, heat: np.ndarray, title: str) -> AxesImage:
    """`heat` (any grid, 0..1) stretched over `image` as a translucent heat map."""
    h, w = image.shape[:2]
    ax.imshow(image)
    shown = ax.imshow(
        heat, cmap="inferno", alpha=0.6, vmin=0, vmax=1, extent=(0, w, h, 0), interpolation="nearest"
    )
    ax.set_title(title, fontsize=7)
    return shown


def _outline(ax: plt.Axes, target: np.ndarray, size: tuple[int, int]) -> None:
    """The true region (target cells) as a contour over an image of `size` (H, W)."""
    if target.any():  # padded by a cell of zeros so that regions at the border close on it
        ys = (np.arange(-1, target.shape[0] + 1) + 0.5) * size[0] / target.shape[0]
        xs = (np.arange(-1, target.shape[1] + 1) + 0.5) * size[1] / target.shape[1]
        ax.contour(xs, ys, np.pad(target, 1), levels=[0.5], colors="lime", linewidths=1.5)


def save_step_pictures(path: Path, mb: MicroBatch, ctx: StepContext) -> Path:
    cfg, patch = ctx.cfg, ctx.module.backbone.patch_size
    inp, out, batch = mb.inputs, mb.outputs, mb.batch
    b = inp.roi.shape[0]
    views = [("global 1", inp.globals_[0]), ("global 2", inp.globals_[b])]
    if inp.locals_ is not None:
        views += [(f"local {i + 1}", inp.locals_[i * b]) for i in range(inp.locals_.shape[0] // b)]
    views += [("roi (rescaled)", inp.roi[0]), ("half (rescaled)", inp.half[0])]
    rows = [[(name, to_image(v)) for name, v in views]]
    if out.csr_pred is not None and mb.csr_mask is not None:
        image = inp.csr_image[0]
        grid = out.csr_grid
        mask = (
            mb.csr_mask[0].cpu().float().reshape(grid).repeat_interleave(patch, 0).repeat_interleave(patch, 1)
        )
        shown = to_image(image) * (1 - mask.numpy()[..., None] * 0.85)
        recon = _reconstruction(out.csr_pred[0], image, grid, patch, cfg.csr.norm_pix_loss)
        rows.append(
            [
                ("CSR input", shown),
                ("CSR mask", mask.numpy()),
                ("CSR reconstruction", to_image(recon)),
                ("CSR target", to_image(image)),
            ]
        )
    searches: list[tuple[str, np.ndarray, np.ndarray]] = []  # (name, true cells, predicted probability)
    if out.css_inst is not None:
        scene = to_image(batch["scene"][0])
        for key, logits in (("inst", out.css_inst), ("roi", out.css_roi)):
            prob = torch.sigmoid(logits[0].detach().float()).cpu().numpy()
            searches.append((key, batch[f"{key}_target"][0].float().numpy(), prob))
    grid = (inp.globals_.shape[-2] // patch, inp.globals_.shape[-1] // patch)
    attn = _cls_attention(mb.teacher.qkv[0], grid) if mb.teacher.qkv else None
    ncols = max(len(rows[0]), 4, len(searches) + 2, (attn.shape[0] + 1) if attn is not None else 0)
    nrows = len(rows) + bool(searches) + (attn is not None)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, row in enumerate(rows):
        for c, (name, img) in enumerate(row):
            ax = axes[r, c]
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_title(f"{name}\n{img.shape[0]}x{img.shape[1]}", fontsize=7)
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            # Views at true scale: a common pixel extent makes smaller views look smaller.
            if r == 0:
                ax.set_xlim(0, max(v.shape[-1] for _, v in views))
                ax.set_ylim(max(v.shape[-2] for _, v in views), 0)
    r = len(rows)
    if searches:
        axes[r, 0].imshow(scene)
        axes[r, 0].set_title("CSS scene", fontsize=7)
        for c, (key, target, prob) in enumerate(searches, start=1):
            shown = _heat(axes[r, c], scene, prob, f"{key} search: predicted")
            _outline(axes[r, c], target, scene.shape[:2])
        fig.colorbar(shown, ax=axes[r, len(searches)], fraction=0.046, pad=0.04, label="p(person)")
        axes[r, len(searches) + 1].legend(
            handles=[Line2D([], [], color="lime", label="true region")], loc="center", fontsize=7
        )
        r += 1
    if attn is not None:
        view = to_image(inp.globals_[0])
        axes[r, 0].imshow(view)
        axes[r, 0].set_title("teacher view", fontsize=7)
        for h in range(attn.shape[0]):
            heat = attn[h] / max(float(attn[h].max()), 1e-12)
            _heat(axes[r, h + 1], view, heat, f"teacher cls attention\nhead {h} (/ max)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
