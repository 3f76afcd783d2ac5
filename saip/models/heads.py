"""CSM projection head: class token -> logits over K prototypes (DINO-style).

Follows the DINO head (Caron et al., 2021; facebookresearch/dino `DINOHead`), written from method.md:
an MLP into a small bottleneck, L2 normalisation, then a weight-normalised linear layer whose rows
are the prototypes. The weight-norm gain is fixed to 1 ("norm_last_layer"), so every prototype is a
unit vector and the logits are cosine similarities: this keeps the student from inflating one
prototype's norm, which DINO reports as a source of instability.

With the gain at 1, `z @ (V / |V|)^T` equals `(z @ V^T) / |V|` (row norms of the [K, d] direction
matrix V), so the forward never materialises the normalised weight, and the backward
(`_RowNormLinear`, written out) is one matmul per input plus one pass over V: autograd through
the division and the norm took three passes and was slower than the weight-norm layer.
`self.last_layer(z)` is the same function through `torch.nn.utils.parametrizations.weight_norm`
(the reference, and the state-dict layout).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import init_weights_vit_timm
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm


class _RowNormLinear(torch.autograd.Function):
    """out = (x @ V^T) / |V| for x [N, d], V [K, d]; gradients for both."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor, v: Tensor) -> Tensor:
        inv = v.norm(dim=1).reciprocal()  # [K]
        out = F.linear(x, v)  # autocast's dtype, as the layer it replaces
        out = out * inv.to(out.dtype)
        ctx.save_for_backward(x, v, inv, out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> tuple[Tensor, Tensor]:
        x, v, inv, out = ctx.saved_tensors
        scaled = grad.to(out.dtype) * inv.to(out.dtype)  # [N, K]
        grad_x = (scaled @ v.to(out.dtype)).to(x.dtype)
        # d|V_k|^-1 / dV_k = -V_k |V_k|^-3: the radial part, sum_n grad * out over the batch.
        radial = (grad.float() * out.float()).sum(0) * inv * inv  # [K]
        grad_v = torch.addmm(v * -radial.to(v.dtype)[:, None], scaled.t().to(v.dtype), x.to(v.dtype))
        return grad_x, grad_v


class CSMHead(nn.Module):
    """MLP in -> hidden -> ... -> bottleneck (GELU), L2-normalise, weight-normed bottleneck -> K.

    Args:
        in_dim: width D of the backbone's class token.
        out_dim: number of prototypes K (recipe 65536; always the configured value).
        hidden_dim: MLP width (recipe 2048).
        bottleneck_dim: width of the normalised embedding (recipe 256).
        nlayers: linear layers in the MLP (>= 1; recipe 3).
        prototypes: False builds no prototype layer, and `forward` returns the normalised
            embedding [B, bottleneck_dim] itself (`csm.criterion: contrastive`).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        nlayers: int = 3,
        prototypes: bool = True,
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
        self._norms: tuple[int, int, Tensor] | None = None  # (data_ptr, version, [K] row norms)
        self.last_layer: nn.Module | None = None
        if not prototypes:
            return
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        # Gain g (original0, [K, 1]) fixed to 1: logits are cosines to unit-norm prototypes.
        gain = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            gain.fill_(1.0)
        gain.requires_grad_(False)

    def prototype_norms(self) -> Tensor:
        """Row norms |V| [K] of the prototype directions. A frozen V (the EMA teacher's) keeps its
        norms until it changes: its version counter moves on every in-place write (the EMA
        update, `load_state_dict`), so the teacher computes them once per update."""
        v = self.last_layer.parametrizations.weight.original1
        if v.requires_grad:
            return v.norm(dim=1)
        key = (v.data_ptr(), v._version)
        if self._norms is None or self._norms[:2] != key:
            with torch.no_grad():
                self._norms = (*key, v.norm(dim=1))
        return self._norms[2]

    def forward(self, x: Tensor) -> Tensor:
        """Class tokens [B, D] -> prototype logits [B, K] (cosines to the unit prototypes), or
        the unit embedding [B, bottleneck_dim] when the head has no prototypes."""
        z = F.normalize(self.mlp(x), dim=-1)
        if self.last_layer is None:
            return z
        v = self.last_layer.parametrizations.weight.original1  # [K, d] directions, gain 1
        if v.requires_grad and torch.is_grad_enabled():
            return _RowNormLinear.apply(z, v)
        logits = F.linear(z, v)
        return logits / self.prototype_norms().to(logits.dtype)
