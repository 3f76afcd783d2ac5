"""The text-to-person retrieval model: saip image backbone and a text encoder in one joint space.

Why one classifier for both modalities (IRRA, Jiang & Ye 2023): identity logits of an image and of
its caption come from the same weights, which pulls the two embeddings of a person together on
top of the similarity loss.
"""

from __future__ import annotations

from torch import Tensor, nn


class TextImageModel(nn.Module):
    """image [B, 3, H, W] (or precomputed backbone features [B, Di] when `backbone` is None) and
    token ids [B, L] -> embeddings [B, E] in the joint space; `classifier` is the shared ID head."""

    def __init__(
        self,
        backbone: nn.Module | None,
        image_dim: int,
        text_encoder: nn.Module,
        text_dim: int,
        embed_dim: int,
        num_ids: int,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.image_proj = nn.Linear(image_dim, embed_dim)
        self.text_encoder = text_encoder
        self.text_proj = nn.Linear(text_dim, embed_dim)
        self.classifier = nn.Linear(embed_dim, num_ids)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def encode_image(self, x: Tensor) -> Tensor:
        feats = self.backbone(x) if self.backbone is not None else x
        return self.image_proj(feats.float())

    def encode_text(self, ids: Tensor) -> Tensor:
        return self.text_proj(self.text_encoder(ids))
