"""The ReID fine-tuning model of the strong baseline (Luo et al. 2019, "Bag of Tricks"): BNNeck.

Why a BN neck: the triplet loss works on the raw embedding, the ID classifier on its batch-normed
copy, and the normed copy (cosine distance) is what retrieval uses at test time; the neck's bias
stays at zero so the classifier's decision boundaries pass through the origin.
"""

from __future__ import annotations

from torch import Tensor, nn


class ReidModel(nn.Module):
    """backbone -> global embedding f [B, D] -> BatchNorm (no bias) -> linear ID classifier."""

    def __init__(self, backbone: nn.Module, embed_dim: int, num_ids: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = nn.BatchNorm1d(embed_dim)
        self.neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(embed_dim, num_ids, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Training: (f [B, D] for the triplet loss, ID logits [B, num_ids]); eval: BN-neck features."""
        feat = self.backbone(x)
        normed = self.neck(feat)
        if self.training:
            return feat, self.classifier(normed)
        return normed


class Standardize(nn.Module):
    """A frozen BN neck for the frozen protocol: features centred and scaled by training-set statistics."""

    def __init__(self, backbone: nn.Module, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", mean)
        self.register_buffer("std", std.clamp(min=1e-6))

    def forward(self, x: Tensor) -> Tensor:
        return (self.backbone(x).float() - self.mean) / self.std
