"""Light dense decoders over a backbone's tokens: heatmaps for pose, part logits for parsing.

Why these two: the heatmap head is ViTPose's classic decoder (Xu et al., NeurIPS 2022: two 4x4
stride-2 deconvolutions with BN + ReLU, then a 1x1 conv), which reaches stride 4 from the stride-16
tokens; the parsing head fuses the final and intermediate taps at stride 16 and upsamples
progressively (SETR-PUP style, Zheng et al., CVPR 2021) to stride 4, small enough to leave the
backbone doing most of the work. Both read feature maps from `DenseModel`, which turns tokens into
[B, C, Hp, Wp] maps from the carried (Hp, Wp) grid, never from sqrt(N).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saip.models.backbone import Backbone


def token_map(tokens: Tensor, grid: tuple[int, int]) -> Tensor:
    """[B, N, C] row-major tokens -> [B, C, Hp, Wp]."""
    b, n, c = tokens.shape
    if n != grid[0] * grid[1]:
        raise ValueError(f"{n} tokens do not fill a {grid[0]}x{grid[1]} grid")
    return tokens.transpose(1, 2).reshape(b, c, *grid)


def final_stride(backbone: Backbone) -> int:
    """Stride of `forward_taps(...).final`: the patch size for ViT, 32 for TinyViT's last stage."""
    return backbone.patch_size if backbone.spec.kind == "vit" else 32


class DenseModel(nn.Module):
    """Backbone + dense head; `forward(images [B, 3, H, W])` -> head output [B, C, H/4, W/4].

    `frozen` is the linear-probe-like protocol: the backbone gets no gradients and stays in eval
    mode (no drop path) whatever `train()` says, so only the head learns.
    """

    def __init__(self, backbone: Backbone, head: nn.Module, *, mid: bool, frozen: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.mid = mid
        self.frozen = frozen
        self.stride = final_stride(backbone)
        if frozen:
            backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> DenseModel:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def features(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """Final [B, D, H/s, W/s] and (when asked) intermediate [B, Dm, H/16, W/16] feature maps."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            taps = self.backbone.forward_taps(images, mid=self.mid)
        h, w = images.shape[-2:]
        final = token_map(taps.final, (math.ceil(h / self.stride), math.ceil(w / self.stride)))
        mid = token_map(taps.mid, taps.grid) if self.mid else None
        return final, mid

    def forward(self, images: Tensor) -> Tensor:
        return self.head(*self.features(images))


class HeatmapHead(nn.Module):
    """ViTPose classic decoder: log2(stride / 4) deconvolutions to stride 4, then 1x1 to K heatmaps."""

    def __init__(self, in_dim: int, num_keypoints: int, stride: int = 16, width: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(int(math.log2(stride // 4))):
            layers += [
                nn.ConvTranspose2d(in_dim, width, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            in_dim = width
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(in_dim, num_keypoints, 1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def forward(self, final: Tensor, mid: Tensor | None = None) -> Tensor:
        return self.final(self.deconv(final))


def _conv_bn_relu(in_dim: int, out_dim: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_dim, out_dim, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_dim),
        nn.ReLU(inplace=True),
    )


class PartHead(nn.Module):
    """Parsing decoder: 1x1 projections of the final and intermediate maps summed at stride 16, then
    two (3x3 conv, x2 bilinear) stages to stride 4 and a 1x1 classifier."""

    def __init__(
        self, in_dim: int, mid_dim: int, num_classes: int, width: int = 128, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.proj_final = _conv_bn_relu(in_dim, width, 1)
        self.proj_mid = _conv_bn_relu(mid_dim, width, 1)
        self.up = nn.ModuleList([_conv_bn_relu(width, width, 3) for _ in range(2)])
        self.classifier = nn.Sequential(nn.Dropout2d(dropout), nn.Conv2d(width, num_classes, 1))

    def forward(self, final: Tensor, mid: Tensor | None = None) -> Tensor:
        if mid is None:
            raise ValueError("PartHead needs the intermediate tap (DenseModel(..., mid=True))")
        x = F.interpolate(self.proj_final(final), size=mid.shape[-2:], mode="bilinear", align_corners=False)
        x = x + self.proj_mid(mid)
        for stage in self.up:
            x = F.interpolate(stage(x), scale_factor=2, mode="bilinear", align_corners=False)
        return self.classifier(x)
