"""The SAIP student: backbone + CSM head + CSR decoder + CSS decoder, one forward over all views.

The forward returns network outputs only; the losses live in `saip.objectives` and are combined
by `saip.train.step`. All student passes sit in one `forward` so DistributedDataParallel sees a
single call per micro-batch. Views of the same (H, W) run as one batch: the global views together,
and the local, roi and half views grouped by size (the roi and half views share one whenever the
step draws them the same rescale factor).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from saip.config import PretrainConfig
from saip.models.backbone import QKV, Backbone, Taps, create_backbone, split_qkv
from saip.models.csr_decoder import CSRDecoder
from saip.models.css_decoder import CSSDecoder
from saip.models.heads import CSMHead


@dataclass
class StudentInputs:
    """The student's views for one micro-batch of B samples (tensors already on the device)."""

    globals_: Tensor  # [2B, 3, H, W]: global view 1 of every sample, then global view 2
    locals_: Tensor | None  # [(L-1)B, 3, h, w] plain local crops, or None
    roi: Tensor  # [B, 3, h', w'] the rescaled last local crop (cross-scale view, CSS roi query)
    half: Tensor  # [B, 3, h'', w''] the rescaled half-size global view 1 (cross-scale view)
    csr_image: Tensor | None = None  # [B, 3, Hc, Wc] global view 2 upscaled for CSR
    csr_visible: Tensor | None = None  # [B, Nv] visible cells of csr_image's grid
    scene_tokens: Tensor | None = None  # [B, Ns, Dm] the teacher's intermediate scene tokens
    scene_grid: tuple[int, int] = (14, 14)


@dataclass
class StudentOutputs:
    # CSM head outputs per view, globals first: logits [B, K] (unit embeddings [B, d] when contrastive)
    logits: list[Tensor] = field(default_factory=list)
    qkv: list[QKV] = field(default_factory=list)  # last-block q, k, v per global view
    cls_features: Tensor | None = None  # [2B, D] final class tokens of the global views (KoLeo, monitor)
    csr_pred: Tensor | None = None  # [B, Nc, p*p*3]
    csr_grid: tuple[int, int] | None = None
    css_inst: Tensor | None = None  # [B, Hs, Ws] mask logits
    css_roi: Tensor | None = None


def _cat_tokens(cls: Tensor, tokens: Tensor) -> Tensor:
    return torch.cat([cls.unsqueeze(1), tokens], dim=1)


def _split_taps(taps: Taps, sizes: list[int]) -> list[Taps]:
    """Taps of views batched together -> one Taps per view (`qkv` is not asked of these views)."""
    fields = ("mid", "mid_cls", "final", "cls")
    parts = {f: getattr(taps, f).split(sizes) for f in fields if getattr(taps, f) is not None}
    return [replace(taps, qkv=None, **{f: p[i] for f, p in parts.items()}) for i in range(len(sizes))]


def taps_by_size(backbone: Backbone, views: list[Tensor], mid: list[bool]) -> list[Taps]:
    """`backbone.forward_taps(view, mid=m)` for each view, one pass per distinct (H, W)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, view in enumerate(views):
        groups.setdefault(tuple(view.shape[-2:]), []).append(i)
    out: list[Taps] = [None] * len(views)  # type: ignore[list-item]
    for members in groups.values():
        batch = torch.cat([views[i] for i in members]) if len(members) > 1 else views[members[0]]
        taps = backbone.forward_taps(batch, mid=any(mid[i] for i in members))
        for i, part in zip(members, _split_taps(taps, [views[i].shape[0] for i in members]), strict=True):
            out[i] = part
    return out


class SAIPStudent(nn.Module):
    """Modules of disabled objectives are not built, so ablations train no dead weights."""

    def __init__(self, cfg: PretrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone: Backbone = create_backbone(
            cfg.model.backbone, tuple(cfg.model.img_size), cfg.model.mid_block, cfg.model.drop_path
        )
        dim, mid_dim, patch = self.backbone.embed_dim, self.backbone.mid_dim, self.backbone.patch_size
        self.csm_head = (
            CSMHead(
                dim,
                cfg.csm.out_dim,
                cfg.csm.hidden_dim,
                cfg.csm.bottleneck_dim,
                prototypes=cfg.csm.criterion == "prototypes",
            )
            if cfg.csm.enabled
            else None
        )
        anchor = (cfg.model.img_size[0] // patch, cfg.model.img_size[1] // patch)
        self.csr_decoder = (
            CSRDecoder(
                mid_dim,
                cfg.csr.decoder_dim,
                cfg.csr.decoder_depth,
                cfg.csr.decoder_heads,
                patch_size=patch,
                anchor_grid=anchor,
                masked_cls=cfg.csr.masked_cls,
            )
            if cfg.csr.enabled
            else None
        )
        self.css_decoder = (
            CSSDecoder(
                mid_dim,
                cfg.css.dim,
                cfg.css.query_depth,
                cfg.css.heads,
                cfg.css.mask_convs,
                scene_dim=mid_dim,
            )
            if cfg.css.enabled
            else None
        )

    def forward(self, x: StudentInputs) -> StudentOutputs:
        out = StudentOutputs()
        b = x.roi.shape[0]
        csm, css = self.csm_head is not None, self.css_decoder is not None
        need_mid = css or self.csr_decoder is not None  # g1's mid tokens: CSS inst query, CSR anchor
        if csm:
            g = self.backbone.forward_taps(x.globals_, mid=need_mid, qkv=self.cfg.csm.attn_weight > 0)
            crops = [x.roi, x.half] if x.locals_ is None else [x.locals_, x.roi, x.half]
            taps = taps_by_size(self.backbone, crops, [False] * (len(crops) - 2) + [css, False])
            roi = taps[-2]
            logits = self.csm_head(torch.cat([g.cls] + [t.cls for t in taps]))
            out.logits = list(logits.split(b))
            out.cls_features = g.cls
            if g.qkv is not None:
                out.qkv = split_qkv(g.qkv, b)
        else:
            g = self.backbone.forward_mid(x.globals_[:b]) if need_mid else None
            roi = self.backbone.forward_mid(x.roi) if css else None
        if need_mid:
            g1_mid, g1_cls = g.mid[:b], g.mid_cls[:b]
        if self.csr_decoder is not None:
            taps = self.backbone.forward_masked_mid(x.csr_image, x.csr_visible)
            own_cls = taps.mid_cls if self.cfg.csr.masked_cls else None
            out.csr_pred = self.csr_decoder(taps.mid, x.csr_visible, taps.grid, g1_cls, own_cls)
            out.csr_grid = taps.grid
        if css:
            out.css_inst, out.css_roi = self.css_decoder.search(
                [_cat_tokens(g1_cls, g1_mid), _cat_tokens(roi.mid_cls, roi.mid)], x.scene_tokens, x.scene_grid
            )
        return out
