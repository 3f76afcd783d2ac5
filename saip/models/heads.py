"""CSM projection head: class token -> logits over K prototypes (DINO-style).

Follows the DINO head (Caron et al., 2021; facebookresearch/dino `DINOHead`), written from method.md:
an MLP into a small bottleneck, L2 normalisation, then a weight-normalised linear layer whose rows
are the prototypes. The weight-norm gain is fixed to 1 ("norm_last_layer"), so every prototype is a
unit vector and the logits are cosine similarities: this keeps the student from inflating one
prototype's norm, which DINO reports as a source of instability.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import init_weights_vit_timm
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm


class CSMHead(nn.Module):
    """MLP in -> hidden -> ... -> bottleneck (GELU), L2-normalise, weight-normed bottleneck -> K.

    Args:
        in_dim: width D of the backbone's class token.
        out_dim: number of prototypes K (recipe 65536; always the configured value).
        hidden_dim: MLP width (recipe 2048).
        bottleneck_dim: width of the normalised embedding (recipe 256).
        nlayers: linear layers in the MLP (>= 1; recipe 3).
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden_dim: int = 2048, bottleneck_dim: int = 256, nlayers: int = 3
    ) -> None:
        super().__init__()
        if nlayers < 1:
            raise ValueError(f"CSMHead needs nlayers >= 1, got {nlayers}")
        dims = [in_dim] + [hidden_dim] * (nlayers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(d_in, d_out))
            if i < nlayers - 1:
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.mlp.apply(init_weights_vit_timm)  # trunc-normal 0.02, zero bias, as DINO's head
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        # Gain g (original0, [K, 1]) fixed to 1: logits are cosines to unit-norm prototypes.
        gain = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            gain.fill_(1.0)
        gain.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        """Class tokens [B, D] -> prototype logits [B, K]."""
        z = F.normalize(self.mlp(x), dim=-1)
        return self.last_layer(z)
