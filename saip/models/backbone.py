"""Backbones: timm models, wrapped (never forked) to expose the two feature taps SAIP needs.

Every backbone gives, for an input whose sides are multiples of its patch size:
- `mid`: intermediate patch tokens through SAIP's own LayerNorm (ViT: block 7 of 12) [B, N, Dm]
  on the stride-16 grid, which feeds CSR and CSS;
- `final`: final patch tokens through the backbone's norm [B, Nf, D], and a global `cls` [B, D]
  that feeds CSM;
- on request, the last block's per-head q, k, v [B, H, N, d] for the attention-relation KL.
Everything else runs timm's fused scaled-dot-product attention.

The wrapped timm model keeps timm's key layout, so `backbone.model.state_dict()` loads into
`timm.create_model(spec.timm_name, **timm_kwargs)` with `strict=True`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saip.models.blocks import QKV, block_with_qkv


@dataclass(frozen=True)
class BackboneSpec:
    """A registry entry: which timm model, how SAIP taps it, and what `saip backbones` lists."""

    timm_name: str
    kind: str  # "vit" (plain ViT, class token), "hybrid" (TinyViT: conv + windowed attention), "convnet" (ConvNeXt-V2)
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    _: KW_ONLY
    params_m: float  # parameters of the exported timm model (num_classes=0) at `input_size`, millions
    input_size: tuple[int, int] = (256, 128)  # (H, W) when none is given: the person crops of the recipes
    test_only: bool = False  # for tests and CPU smoke runs, not a model to pretrain


BACKBONES: dict[str, BackboneSpec] = {
    "vit_tiny": BackboneSpec("vit_tiny_patch16_224", "vit", params_m=5.5),
    "vit_small": BackboneSpec("vit_small_patch16_224", "vit", params_m=21.6),
    "tiny_vit_5m": BackboneSpec("tiny_vit_5m_224", "hybrid", params_m=5.1),
    "convnextv2_femto": BackboneSpec("convnextv2_femto", "convnet", params_m=4.8),
    # A 4-block, 48-wide ViT for tests and CPU smoke runs (same code paths, seconds per step).
    "vit_micro": BackboneSpec(
        "vit_tiny_patch16_224",
        "vit",
        {"embed_dim": 48, "depth": 4, "num_heads": 2},
        params_m=0.16,
        test_only=True,
    ),
}


@dataclass
class Taps:
    """What one backbone pass returns; fields not asked for are None."""

    grid: tuple[int, int]  # (Hp, Wp) of the stride-16 `mid` grid
    mid: Tensor | None = None  # [B, N, Dm]
    mid_cls: Tensor | None = None  # [B, Dm]
    final: Tensor | None = None  # [B, Nf, D]
    cls: Tensor | None = None  # [B, D]
    qkv: QKV | None = None  # each [B, H, N', d]


def split_qkv(qkv: QKV, batch: int) -> list[QKV]:
    """q, k, v of views batched together ([V*B, H, N, d] each) -> one (q, k, v) per view."""
    q, k, v = (t.split(batch) for t in qkv)
    return list(zip(q, k, v, strict=True))


def _multiple_check(x: Tensor, patch: int) -> None:
    h, w = x.shape[-2:]
    if h % patch or w % patch:
        raise ValueError(f"input sides must be multiples of {patch}, got (H, W)=({h}, {w})")


class Backbone(nn.Module):
    """Base class: the timm model lives in `self.model` so its state dict is timm's."""

    patch_size = 16

    def __init__(self, name: str, img_size: tuple[int, int], mid_block: int, drop_path: float) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
        self.name = name
        self.spec = BACKBONES[name]
        self.img_size = tuple(img_size)
        self.mid_block = mid_block
        self.timm_kwargs = self._timm_kwargs(drop_path)
        self.model = timm.create_model(self.spec.timm_name, pretrained=False, **self.timm_kwargs)

    def _timm_kwargs(self, drop_path: float) -> dict[str, Any]:
        kwargs = {"num_classes": 0, "img_size": list(self.img_size), **self.spec.timm_kwargs}
        if drop_path:
            kwargs["drop_path_rate"] = drop_path
        return kwargs

    def export_kwargs(self) -> dict[str, Any]:
        """The kwargs that rebuild `self.model` in timm (drop path is a training-only setting)."""
        return {k: v for k, v in self.timm_kwargs.items() if k != "drop_path_rate"}

    def forward(self, x: Tensor) -> Tensor:
        """Global embedding [B, D], the feature downstream tasks start from."""
        return self.forward_taps(x, mid=False).cls  # type: ignore[return-value]

    embed_dim: int  # width of `final` / `cls`
    mid_dim: int  # width of `mid`

    @abstractmethod
    def forward_taps(self, x: Tensor, *, mid: bool = True, qkv: bool = False) -> Taps:
        """Full pass: `cls`, `final`, optionally `mid` and the last block's `qkv`."""

    @abstractmethod
    def forward_mid(self, x: Tensor) -> Taps:
        """Stop at the intermediate tap (the teacher's scene reference needs nothing more)."""

    @abstractmethod
    def forward_masked_mid(self, x: Tensor, visible_index: Tensor) -> Taps:
        """Intermediate tokens of the visible cells only ([B, Nv] row-major indices), for CSR."""


class ViTBackbone(Backbone):
    """Plain ViT with a class token; position embeddings resampled in 2-D by timm
    (`dynamic_img_size=True` calls `resample_abs_pos_embed` with the true (Hp, Wp) old grid)."""

    def __init__(
        self, name: str, img_size: tuple[int, int] = (256, 128), mid_block: int = 6, drop_path: float = 0.0
    ) -> None:
        super().__init__(name, img_size, mid_block, drop_path)
        vit = self.model
        if not 0 <= mid_block < len(vit.blocks) - 1:
            raise ValueError(f"mid_block must be in [0, {len(vit.blocks) - 2}], got {mid_block}")
        self.embed_dim = self.mid_dim = vit.embed_dim
        self.patch_size = vit.patch_embed.patch_size[0]
        self.mid_norm = nn.LayerNorm(vit.embed_dim, eps=1e-6)

    def _timm_kwargs(self, drop_path: float) -> dict[str, Any]:
        return {**super()._timm_kwargs(drop_path), "dynamic_img_size": True}

    def _embed(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        _multiple_check(x, self.patch_size)
        grid = (x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size)
        tokens = self.model._pos_embed(self.model.patch_embed(x))  # [B, 1+N, D], 2-D resampled
        return self.model.norm_pre(tokens), grid

    def forward_taps(self, x: Tensor, *, mid: bool = True, qkv: bool = False) -> Taps:
        tokens, grid = self._embed(x)
        taps = Taps(grid=grid)
        last = len(self.model.blocks) - 1
        for i, block in enumerate(self.model.blocks):
            if i == last and qkv:  # one norm + qkv serve the block and the relation loss
                tokens, taps.qkv = block_with_qkv(block, tokens)
            else:
                tokens = block(tokens)
            if i == self.mid_block and mid:
                normed = self.mid_norm(tokens)
                taps.mid_cls, taps.mid = normed[:, 0], normed[:, 1:]
        out = self.model.norm(tokens)
        taps.cls, taps.final = out[:, 0], out[:, 1:]
        return taps

    def forward_mid(self, x: Tensor) -> Taps:
        tokens, grid = self._embed(x)
        for block in self.model.blocks[: self.mid_block + 1]:
            tokens = block(tokens)
        normed = self.mid_norm(tokens)
        return Taps(grid=grid, mid_cls=normed[:, 0], mid=normed[:, 1:])

    def forward_masked_mid(self, x: Tensor, visible_index: Tensor) -> Taps:
        tokens, grid = self._embed(x)
        cls, patches = tokens[:, :1], tokens[:, 1:]
        index = visible_index.unsqueeze(-1).expand(-1, -1, patches.shape[-1])
        tokens = torch.cat([cls, patches.gather(1, index)], dim=1)
        for block in self.model.blocks[: self.mid_block + 1]:
            tokens = block(tokens)
        normed = self.mid_norm(tokens)
        return Taps(grid=grid, mid_cls=normed[:, 0], mid=normed[:, 1:])


class StagedBackbone(Backbone):
    """timm's four-stage models (strides 4, 8, 16, 32; no class token), adapted to SAIP's taps.

    - `mid`: stage 3 output (stride 16, the same grid as ViT/16) through SAIP's LayerNorm.
    - `cls`: timm's own head path, `forward_head(pre_logits=True)`: mean over the stage-4 cells
      (stride 32), then `head.norm`. So `timm.create_model(...)(x)` on the exported weights returns
      exactly saip's embedding, and no parameter is left unused (DistributedDataParallel needs
      every parameter to get a gradient).
    - `final`: the stage-4 tokens through that same `head.norm`, per cell.
    - CSR masking: a convolutional stem cannot drop tokens, so masked 16x16 cells are replaced by
      a learned mask token right after the stride-4 stem (SimMIM-style); the decoder then reads
      the stride-16 tokens of the visible cells, exactly as for ViT.
    - Attention relations: these models have no global attention map, so the relation maps come
      from the final tokens themselves, split into heads (q = k = v = normalised stage-4 tokens).
    """

    stem_attr: str  # the timm module that maps pixels to the stride-4 grid

    relation_heads = 4

    def __init__(
        self, name: str, img_size: tuple[int, int] = (256, 128), mid_block: int = 2, drop_path: float = 0.0
    ) -> None:
        super().__init__(name, img_size, mid_block, drop_path)
        dims = [info["num_chs"] for info in self.model.feature_info]
        self.mid_dim, self.embed_dim = dims[mid_block], dims[-1]
        self.stem_dim = dims[0]
        self.mid_norm = nn.LayerNorm(self.mid_dim, eps=1e-6)
        self.mask_token = nn.Parameter(torch.zeros(self.stem_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def _timm_kwargs(self, drop_path: float) -> dict[str, Any]:
        kwargs = super()._timm_kwargs(drop_path)
        del kwargs["img_size"]  # size-agnostic: convolutions, and TinyViT's windows pad to any size
        return kwargs

    def stem(self, x: Tensor) -> Tensor:
        """Pixels [B, 3, H, W] -> the stride-4 map the stages start from."""
        return getattr(self.model, self.stem_attr)(x)

    def stage_maps(self, x: Tensor, upto: int = 3) -> list[Tensor]:
        """The stem's map [B, C, H/4, W/4] -> the maps of stages 0..`upto` (strides 4..32)."""
        outs = []
        for stage in self.model.stages[: upto + 1]:
            x = stage(self._stage_input(stage, x))
            outs.append(x)
        return outs

    def _stage_input(self, stage: nn.Module, x: Tensor) -> Tensor:
        return x

    @staticmethod
    def _tokens(fmap: Tensor) -> Tensor:
        return fmap.flatten(2).transpose(1, 2)  # [B, C, H, W] -> [B, H*W, C]

    def forward_taps(self, x: Tensor, *, mid: bool = True, qkv: bool = False) -> Taps:
        _multiple_check(x, self.patch_size)
        grid = (x.shape[-2] // 16, x.shape[-1] // 16)
        outs = self.stage_maps(self.stem(x), len(self.model.stages) - 1)
        final = self._tokens(self.model.head.norm(outs[-1]))
        taps = Taps(grid=grid, final=final, cls=self.model.forward_head(outs[-1], pre_logits=True))
        if mid:
            taps.mid = self.mid_norm(self._tokens(outs[self.mid_block]))
            taps.mid_cls = taps.mid.mean(1)
        if qkv:
            b, n, d = final.shape
            heads = final.reshape(b, n, self.relation_heads, d // self.relation_heads).transpose(1, 2)
            taps.qkv = (heads, heads, heads)
        return taps

    def forward_mid(self, x: Tensor) -> Taps:
        _multiple_check(x, self.patch_size)
        fmap = self.stage_maps(self.stem(x), self.mid_block)[-1]
        tokens = self.mid_norm(self._tokens(fmap))
        return Taps(grid=tuple(fmap.shape[-2:]), mid=tokens, mid_cls=tokens.mean(1))

    def forward_masked_mid(self, x: Tensor, visible_index: Tensor) -> Taps:
        _multiple_check(x, self.patch_size)
        grid = (x.shape[-2] // 16, x.shape[-1] // 16)
        stem = self.stem(x)  # [B, C, H/4, W/4]
        keep = torch.zeros(x.shape[0], grid[0] * grid[1], device=x.device, dtype=stem.dtype)
        keep.scatter_(1, visible_index, 1.0)
        keep = F.interpolate(keep.view(-1, 1, *grid), size=stem.shape[-2:], mode="nearest")
        stem = stem * keep + self.mask_token.view(1, -1, 1, 1).to(stem.dtype) * (1 - keep)
        fmap = self.stage_maps(stem, self.mid_block)[-1]
        tokens = self.mid_norm(self._tokens(fmap))
        index = visible_index.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
        return Taps(grid=grid, mid=tokens.gather(1, index), mid_cls=tokens.mean(1))


class HybridBackbone(StagedBackbone):
    """TinyViT-5M: convolutional stages (with BatchNorm), then windowed attention."""

    stem_attr = "patch_embed"


class ConvNetBackbone(StagedBackbone):
    """ConvNeXt-V2: convolutions, LayerNorm and GRN only (no BatchNorm, so nothing to average
    over ranks), the stem a 4x4 stride-4 convolution."""

    stem_attr = "stem"

    def _stage_input(self, stage: nn.Module, x: Tensor) -> Tensor:
        """ConvNeXt downsamples by a 2x2 stride-2 convolution, which drops an odd last row or
        column of cells (and fails on a single one, as in a 32x16 local crop): zero-pad them so
        that grids round up, as TinyViT's do. Sides that are multiples of 32 need no padding, so
        saip's maps are timm's own."""
        if isinstance(stage.downsample, nn.Identity):
            return x
        return F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))


KINDS: dict[str, type[Backbone]] = {"vit": ViTBackbone, "hybrid": HybridBackbone, "convnet": ConvNetBackbone}


def create_backbone(
    name: str = "vit_tiny",
    img_size: tuple[int, int] | None = None,
    mid_block: int | None = None,
    drop_path: float = 0.0,
) -> Backbone:
    """Build a registered backbone at `img_size` (default: the spec's `input_size`); `mid_block`
    defaults to block 7 of 12 (ViT; 7/12 of the depth for other depths) or stage 3 (hybrid and
    convnet: the stride-16 stage)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    spec = BACKBONES[name]
    img_size = spec.input_size if img_size is None else img_size
    if mid_block is None:
        mid_block = spec.timm_kwargs.get("depth", 12) * 7 // 12 - 1 if spec.kind == "vit" else 2
    return KINDS[spec.kind](name, img_size, mid_block, drop_path)
