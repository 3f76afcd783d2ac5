"""Training pairs of text-to-person retrieval: (image or its frozen features, caption tokens, person id).

Captions are tokenized once up front into a padded [C, L] table; a batch is cut back to its longest
caption, so short captions do not pay for the longest one in the set.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from saip.tasks.text_tokenizer import PAD_ID


class CaptionPairs(Dataset):
    """Item c: (item 0 of `images[caption_image[c]]`, tokens[c] [L], pid of that image)."""

    def __init__(self, images: Dataset, caption_image: np.ndarray, tokens: Tensor, pids: np.ndarray) -> None:
        if len(caption_image) != len(tokens):
            raise ValueError(f"{len(caption_image)} captions but {len(tokens)} token rows")
        self.images = images
        self.caption_image = caption_image
        self.tokens = tokens
        self.pids = pids

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, int]:
        image = int(self.caption_image[index])
        return self.images[image][0], self.tokens[index], int(self.pids[image])


def trim_padding(tokens: Tensor) -> Tensor:
    """[B, L] right-padded ids -> [B, L'] with L' the longest caption of the batch."""
    length = int((tokens != PAD_ID).sum(1).max()) if len(tokens) else 0
    return tokens[:, : max(length, 1)]


def collate_pairs(items: list[tuple[Tensor, Tensor, int]]) -> tuple[Tensor, Tensor, Tensor]:
    images, tokens, pids = zip(*items, strict=True)
    return torch.stack(images), trim_padding(torch.stack(tokens)), torch.tensor(pids, dtype=torch.int64)
