"""The text side's BPE tokenizer, trained here on the training captions with `tokenizers`.

Why trained here: nothing is downloaded (no CLIP vocabulary), and a vocabulary of the captions'
own words and sub-words (about 8k merges on CUHK-PEDES) keeps the embedding table small.
Captions are NFKC-normalised and lower-cased, split on whitespace and punctuation, and encoded as
`[CLS] tokens [SEP]`, truncated to `max_tokens` (specials included) and padded with `[PAD]` = 0.
The tokenizer is saved as `tokenizer.json` in the run directory; evaluation and resumed runs load
that file, so the ids always match the trained embedding table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import BPE
from tokenizers.trainers import BpeTrainer

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
SPECIALS = [PAD, UNK, CLS, SEP]  # ids 0..3, in this order
PAD_ID = 0
TOKENIZER_FILE = "tokenizer.json"


def train_tokenizer(captions: Sequence[str], vocab_size: int = 8000) -> Tokenizer:
    """A BPE tokenizer of at most `vocab_size` tokens learnt from `captions` (fewer when the captions
    run out of merges; a pair must occur twice to be merged)."""
    if not captions:
        raise ValueError("no captions to train the tokenizer on")
    tokenizer = Tokenizer(BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS, show_progress=False)
    tokenizer.train_from_iterator(captions, trainer, length=len(captions))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        special_tokens=[(CLS, tokenizer.token_to_id(CLS)), (SEP, tokenizer.token_to_id(SEP))],
    )
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tokenizer not found: {path}")
    return Tokenizer.from_file(str(path))


def encode(tokenizer: Tokenizer, captions: Sequence[str], max_tokens: int) -> tuple[torch.Tensor, int]:
    """([N, L] int64 token ids, right-padded with PAD_ID, L <= max_tokens; captions truncated)."""
    if max_tokens < 3:
        raise ValueError(f"max_tokens must leave room for [CLS], [SEP] and a word, got {max_tokens}")
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=PAD_ID, pad_token=PAD)
    encodings = tokenizer.encode_batch(list(captions))
    truncated = sum(bool(e.overflowing) for e in encodings)
    ids = torch.tensor([e.ids for e in encodings], dtype=torch.int64)
    return ids.reshape(len(encodings), -1), truncated
