"""Text encoders trained from scratch, registered by name: a small transformer and a bag of words.

Why a bag-of-words arm: it sees which words a caption has but not their order or binding ("red
shirt, blue trousers" against "blue shirt, red trousers"), so the gap between the two on the same
image side and losses is what the transformer's word order buys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from saip.tasks.text_tokenizer import PAD_ID


@dataclass(frozen=True)
class TextEncoderSpec:
    vocab_size: int
    width: int
    depth: int
    heads: int
    max_tokens: int
    dropout: float = 0.0


class TransformerText(nn.Module):
    """Token + learned position embeddings -> pre-norm `nn.TransformerEncoder` (padding masked)
    -> final LayerNorm; the caption's feature is the output at its leading [CLS] token."""

    def __init__(self, spec: TextEncoderSpec) -> None:
        super().__init__()
        self.width = spec.width
        self.token_embed = nn.Embedding(spec.vocab_size, spec.width, padding_idx=PAD_ID)
        self.pos_embed = nn.Parameter(torch.zeros(spec.max_tokens, spec.width))
        layer = nn.TransformerEncoderLayer(
            spec.width,
            spec.heads,
            dim_feedforward=4 * spec.width,
            dropout=spec.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, spec.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(spec.width)
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.01)

    def forward(self, ids: Tensor) -> Tensor:
        """ids [B, L] (PAD_ID after the caption) -> [B, width]."""
        if ids.shape[1] > self.pos_embed.shape[0]:
            raise ValueError(f"{ids.shape[1]} tokens exceed the encoder's {self.pos_embed.shape[0]}")
        x = self.token_embed(ids) + self.pos_embed[: ids.shape[1]]
        x = self.encoder(x, src_key_padding_mask=ids == PAD_ID)
        return self.norm(x[:, 0])


class BagOfWords(nn.Module):
    """Mean of learned token embeddings over the caption's tokens (padding excluded) -> LayerNorm."""

    def __init__(self, spec: TextEncoderSpec) -> None:
        super().__init__()
        self.width = spec.width
        self.token_embed = nn.Embedding(spec.vocab_size, spec.width, padding_idx=PAD_ID)
        self.norm = nn.LayerNorm(spec.width)
        nn.init.normal_(self.token_embed.weight, std=0.02)

    def forward(self, ids: Tensor) -> Tensor:
        """ids [B, L] -> [B, width]."""
        keep = (ids != PAD_ID).unsqueeze(-1).float()
        mean = (self.token_embed(ids) * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.norm(mean)


TEXT_ENCODERS: dict[str, Callable[[TextEncoderSpec], nn.Module]] = {
    "transformer": TransformerText,
    "bow": BagOfWords,
}


def create_text_encoder(name: str, spec: TextEncoderSpec) -> nn.Module:
    if name not in TEXT_ENCODERS:
        raise ValueError(f"unknown text encoder {name!r}; known: {', '.join(TEXT_ENCODERS)}")
    return TEXT_ENCODERS[name](spec)
