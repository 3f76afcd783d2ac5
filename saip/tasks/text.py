"""`saip eval text`: text-to-person retrieval on CUHK-PEDES, ICFG-PEDES or RSTPReid.

    saip eval text --data ROOT [--format cuhk_pedes|icfg_pedes|rstpreid] --weights W
                   [--protocol finetune|frozen] [--save-similarity]

The image side is the saip backbone's global embedding, the text side a small encoder trained from
scratch with a BPE tokenizer learnt on the training captions (both trained here: nothing is
downloaded); linear projections map both into one joint space. Losses as in IRRA: SDM plus an ID
loss whose classifier is shared by both modalities, ITC optional; one caption per image in a batch.
- finetune: backbone, text side, projections and classifier trained end to end (layer-wise lr
  decay on the backbone).
- frozen: backbone features are computed once per image; the text side, the projections and the
  classifier train on them.
Every test caption is ranked against every test image by cosine similarity.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from saip.cli import add_run_arguments
from saip.models.backbone import Backbone
from saip.tasks.backbones import load_eval_backbone
from saip.tasks.config import EvalConfig, EvalModelConfig, add_eval_arguments, load_eval_config
from saip.tasks.data.caption_pairs import CaptionPairs, collate_pairs, trim_padding
from saip.tasks.data.checks import decode_image, scan
from saip.tasks.data.pedes_sets import LAYOUTS, PedesSplit, read_pedes
from saip.tasks.data.reid_sets import ReidImages
from saip.tasks.data.samplers import caption_batches
from saip.tasks.data.transforms import eval_transform, train_transform
from saip.tasks.engine import Metric, TaskParts, open_run, run_task, select_device
from saip.tasks.features import eval_mode, extract_features
from saip.tasks.retrieval_metrics import text_retrieval_metrics
from saip.tasks.text_encoders import TEXT_ENCODERS, TextEncoderSpec, create_text_encoder
from saip.tasks.text_losses import itc_loss, sdm_loss, shared_id_loss
from saip.tasks.text_model import TextImageModel
from saip.tasks.text_pictures import save_text_picture
from saip.tasks.text_tokenizer import TOKENIZER_FILE, encode, load_tokenizer, train_tokenizer
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)

FORMATS = list(LAYOUTS)
PROTOCOLS = ["finetune", "frozen"]


@dataclass
class TextSection:
    # Text side: `transformer` (pre-norm encoder, [CLS] output) or `bow` (mean of token
    # embeddings: the baseline that shows what word order adds).
    encoder: str = "transformer"
    # BPE vocabulary, learnt on the training captions (fewer tokens when the captions run out of merges).
    vocab_size: int = 8000
    # Tokens per caption, [CLS] and [SEP] included (IRRA: 77; CUHK-PEDES captions average ~25 words).
    max_tokens: int = 77
    width: int = 256
    depth: int = 4
    heads: int = 4
    dropout: float = 0.1
    # Width of the joint image-text space.
    embed_dim: int = 256
    # Fixed logit scale of SDM and ITC: 1 / temperature, IRRA's 1 / 0.02 = 50.
    logit_scale: float = 50.0
    sdm_weight: float = 1.0
    id_weight: float = 1.0
    # Image-text contrastive loss (CLIP's, own caption as the only positive); 0 disables it.
    itc_weight: float = 0.0
    # Random-erasing probability of the fine-tuning augmentation (flip and pad-crop always apply).
    erasing: float = 0.5
    # ICFG-PEDES has no val split: this fraction of the training identities is held out (fixed draw).
    val_fraction: float = 0.05
    # Which split is ranked: `test` (the published protocol) or `val` (for choosing settings).
    split: str = "test"
    # Write similarity.npz: sim [captions, images], caption_pids, image_pids.
    save_similarity: bool = False
    # Rows of pictures/text_retrieval.png (0: no picture).
    picture_captions: int = 6


@dataclass
class TextConfig(EvalConfig):
    name: str = "text"
    format: str = "cuhk_pedes"
    protocol: str = "finetune"
    model: EvalModelConfig = field(default_factory=lambda: EvalModelConfig(img_size=(384, 128)))
    text: TextSection = field(default_factory=TextSection)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    add_eval_arguments(parser, formats=FORMATS, protocols=PROTOCOLS)
    parser.add_argument(
        "--save-similarity",
        action="store_true",
        default=None,
        help="write similarity.npz with the caption-image similarities the metrics were computed from",
    )


def _check(cfg: TextConfig) -> None:
    section = cfg.text
    checks = [
        (cfg.protocol in PROTOCOLS, f"unknown protocol {cfg.protocol!r}; known: {', '.join(PROTOCOLS)}"),
        (
            section.encoder in TEXT_ENCODERS,
            f"unknown text.encoder {section.encoder!r}; known: {', '.join(TEXT_ENCODERS)}",
        ),
        (section.split in ("test", "val"), f"text.split must be test or val, got {section.split!r}"),
        (section.width % section.heads == 0, f"text.width {section.width} is not a multiple of text.heads"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def _tokenizer(cfg: TextConfig, captions: list[str], resume: str | None) -> Tokenizer:
    """The run directory's tokenizer when resuming (its ids match the checkpoint), else a new one."""
    saved = Path(cfg.out) / TOKENIZER_FILE if cfg.out else None
    if resume and saved is not None and saved.is_file():
        log.info("resuming: tokenizer from %s", saved)
        return load_tokenizer(saved)
    return train_tokenizer(captions, cfg.text.vocab_size)


def _frozen_features(backbone: Backbone, split: PedesSplit, cfg: TextConfig, device: torch.device) -> Tensor:
    backbone.to(device)
    with eval_mode(backbone):
        return extract_features(
            backbone,
            ReidImages(split.images(), eval_transform(cfg.model.img_size)),
            device=device,
            batch_size=cfg.train.eval_batch_size,
            num_workers=cfg.train.num_workers,
            amp=cfg.train.amp,
        )


def _encode_text(model: TextImageModel, tokens: Tensor, batch_size: int, device: torch.device) -> Tensor:
    chunks = [
        model.encode_text(trim_padding(tokens[i : i + batch_size]).to(device)).float().cpu()
        for i in range(0, len(tokens), batch_size)
    ]
    return torch.cat(chunks)


def _evaluator(
    split: PedesSplit, images: Dataset, cfg: TextConfig, device: torch.device
) -> Callable[[nn.Module, RunDir], dict[str, float]]:
    def evaluate(model: nn.Module, run: RunDir) -> dict[str, float]:
        tokenizer = load_tokenizer(run.path / TOKENIZER_FILE)  # the saved file, as a later evaluation would
        tokens, _ = encode(tokenizer, split.captions, cfg.text.max_tokens)
        text = _encode_text(model, tokens, cfg.train.eval_batch_size, device)  # type: ignore[arg-type]
        image = extract_features(
            model.encode_image,  # type: ignore[arg-type]
            images,
            device=device,
            batch_size=cfg.train.eval_batch_size,
            num_workers=cfg.train.num_workers,
            amp=cfg.train.amp,
        )
        sim = F.normalize(text, dim=1) @ F.normalize(image, dim=1).T
        if cfg.text.save_similarity:
            np.savez(
                run.path / "similarity.npz",
                sim=sim.numpy(),
                caption_pids=split.caption_pids,
                image_pids=split.pids,
            )
        if cfg.text.picture_captions > 0:
            save_text_picture(
                sim, split, run.pictures / "text_retrieval.png", num_captions=cfg.text.picture_captions
            )
        return text_retrieval_metrics(sim, split.caption_pids, split.pids)

    return evaluate


def _loss(cfg: TextConfig) -> Callable[[nn.Module, tuple[Tensor, Tensor, Tensor]], dict[str, Tensor]]:
    section = cfg.text

    def loss(model: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> dict[str, Tensor]:
        images, tokens, pids = batch
        image, text = model.encode_image(images), model.encode_text(tokens)  # type: ignore[operator]
        terms = {
            "loss_sdm": sdm_loss(image, text, pids, section.logit_scale),
            "loss_id": shared_id_loss(model.classifier, image, text, pids),  # type: ignore[arg-type]
        }
        total = section.sdm_weight * terms["loss_sdm"] + section.id_weight * terms["loss_id"]
        if section.itc_weight > 0:
            terms["loss_itc"] = itc_loss(image, text, section.logit_scale)
            total = total + section.itc_weight * terms["loss_itc"]
        return {"loss": total, **terms}

    return loss


def _model(
    cfg: TextConfig, backbone: Backbone | None, image_dim: int, vocab: int, num_ids: int
) -> TextImageModel:
    section = cfg.text
    spec = TextEncoderSpec(
        vocab, section.width, section.depth, section.heads, section.max_tokens, section.dropout
    )
    encoder = create_text_encoder(section.encoder, spec)
    return TextImageModel(backbone, image_dim, encoder, section.width, section.embed_dim, num_ids)


def run(args: argparse.Namespace) -> dict[str, Metric]:
    """The work of `saip eval text`: the metrics (also in `metrics.json`); `{}` after `--check-data`."""
    cfg = load_eval_config(TextConfig, args)
    if args.save_similarity:
        cfg.text.save_similarity = True
    _check(cfg)
    device = select_device(cfg.train.device)
    sets = read_pedes(cfg.data, cfg.format, val_fraction=cfg.text.val_fraction)
    train, test = sets.train.relabelled(), getattr(sets, cfg.text.split)
    log.info(
        "%s: train %d images / %d captions / %d ids, %s %d images / %d captions",
        cfg.data,
        len(train.paths),
        len(train.captions),
        train.num_ids,
        cfg.text.split,
        len(test.paths),
        len(test.captions),
    )
    if args.check_data:
        scan(sorted({*sets.train.paths, *test.paths}), decode_image, str(cfg.data))
        return {}
    if not test.captions:
        raise ValueError(f"{cfg.data}: the {cfg.text.split} split has no captions to rank")
    captioned = len(np.unique(train.caption_image))
    if captioned < cfg.train.batch_size:
        raise ValueError(
            f"train.batch_size {cfg.train.batch_size} exceeds the {captioned} captioned training images"
        )
    finetune = cfg.protocol == "finetune"
    backbone = load_eval_backbone(cfg.model, finetune=finetune)
    tokenizer = _tokenizer(cfg, train.captions, args.resume)
    tokens, truncated = encode(tokenizer, train.captions, cfg.text.max_tokens)
    log.info(
        "tokenizer: %d tokens; %d of %d training captions truncated to %d tokens",
        tokenizer.get_vocab_size(),
        truncated,
        len(train.captions),
        cfg.text.max_tokens,
    )
    with open_run(cfg) as run_dir:  # closed (log file, lock) if setup fails too
        tokenizer.save(str(run_dir.path / TOKENIZER_FILE))
        if finetune:
            train_images: Dataset = ReidImages(
                train.images(), train_transform(cfg.model.img_size, erasing=cfg.text.erasing)
            )
            test_images: Dataset = ReidImages(test.images(), eval_transform(cfg.model.img_size))
            model = _model(cfg, backbone, backbone.embed_dim, tokenizer.get_vocab_size(), train.num_ids)
        else:
            train_images = TensorDataset(_frozen_features(backbone, train, cfg, device))
            test_images = TensorDataset(_frozen_features(backbone, test, cfg, device))
            model = _model(cfg, None, backbone.embed_dim, tokenizer.get_vocab_size(), train.num_ids)
        parts = TaskParts(
            model=model,
            evaluate=_evaluator(test, test_images, cfg, device),
            train_set=CaptionPairs(train_images, train.caption_image, tokens, train.pids),
            epoch_batches=lambda epoch: caption_batches(
                train.caption_image, cfg.train.batch_size, seed=cfg.train.seed, epoch=epoch
            ),
            loss=_loss(cfg),
            collate=collate_pairs,
            backbone=backbone.model if finetune else None,
        )
        return run_task(parts, cfg, run_dir, device=device, resume=args.resume)
