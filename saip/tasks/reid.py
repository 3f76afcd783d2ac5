"""`saip eval reid`: person re-identification, frozen features or the strong fine-tuning baseline.

    saip eval reid --data ROOT [--format market1501|msmt17] --weights W [--protocol frozen|finetune]

- frozen: global embedding of the backbone (class token), optionally standardised by training-set
  statistics, cosine distance, Market-1501 protocol metrics; no training, a health check.
- finetune: BNNeck, ID loss with label smoothing + batch-hard triplet loss, P x K sampler, random
  erasing, warm-up then cosine with layer-wise lr decay (the shared engine), flip at test time.
`frozen_probe` runs the frozen protocol inside pretraining (the online probe).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saip.cli import add_run_arguments
from saip.models.backbone import Backbone
from saip.tasks.backbones import load_eval_backbone
from saip.tasks.config import ReidConfig, add_eval_arguments, load_eval_config
from saip.tasks.data.checks import decode_image, scan
from saip.tasks.data.reid_sets import ReidImages, ReidSets, read_market1501, read_reid
from saip.tasks.data.samplers import pk_batches
from saip.tasks.data.transforms import eval_transform, train_transform
from saip.tasks.engine import Metric, TaskParts, open_run, run_task, select_device
from saip.tasks.features import eval_mode, extract_features
from saip.tasks.reid_model import ReidModel, Standardize
from saip.tasks.reid_pictures import save_ranking_picture
from saip.tasks.reranking import k_reciprocal_rerank
from saip.tasks.retrieval_metrics import cosine_distance, retrieval_metrics
from saip.tasks.triplet import TripletLoss
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)

Evaluate = Callable[[nn.Module, RunDir], dict[str, float]]

FORMATS = ["market1501", "msmt17"]
PROTOCOLS = ["frozen", "finetune"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    add_eval_arguments(parser, formats=FORMATS, protocols=PROTOCOLS)
    parser.add_argument(
        "--save-features",
        action="store_true",
        default=None,
        help="write features.npz with the features the metrics were computed from",
    )


def frozen_probe(
    backbone: Backbone,
    data_root: str | Path,
    *,
    device: torch.device,
    batch_size: int = 64,
    img_size: tuple[int, int] = (256, 128),
    num_workers: int = 0,
) -> dict[str, float]:
    """Frozen ReID protocol on a Market-1501-layout folder (query vs bounding_box_test), no training.

    The backbone's train/eval mode is left as it was found; returns the `retrieval_metrics` dict.
    """
    sets = read_market1501(data_root, splits=("query", "gallery"))
    transform = eval_transform(img_size)
    with eval_mode(backbone):
        feats = [
            extract_features(
                backbone,
                ReidImages(sets[s], transform),
                device=device,
                batch_size=batch_size,
                num_workers=num_workers,
            )
            for s in ("query", "gallery")
        ]
    q, g = sets["query"], sets["gallery"]
    return retrieval_metrics(cosine_distance(*feats), q.pids, g.pids, q.camids, g.camids)


def _distances(q: Tensor, g: Tensor, cfg: ReidConfig) -> Tensor:
    dist = cosine_distance(q, g)
    if not cfg.reid.rerank:
        return dist
    section = cfg.reid
    reranked = k_reciprocal_rerank(
        dist.numpy(),
        cosine_distance(q, q).clamp(min=0).numpy(),
        cosine_distance(g, g).clamp(min=0).numpy(),
        k1=section.rerank_k1,
        k2=section.rerank_k2,
        lambda_value=section.rerank_lambda,
    )
    return torch.from_numpy(reranked)


def _evaluator(sets: ReidSets, cfg: ReidConfig, device: torch.device) -> Evaluate:
    transform = eval_transform(cfg.model.img_size)

    def evaluate(model: nn.Module, run: RunDir) -> dict[str, float]:
        q_feats, g_feats = (
            extract_features(
                model,
                ReidImages(items, transform),
                device=device,
                batch_size=cfg.train.eval_batch_size,
                flip=cfg.reid.flip_test,
                num_workers=cfg.train.num_workers,
                amp=cfg.train.amp,
            )
            for items in (sets.query, sets.gallery)
        )
        q, g = sets.query, sets.gallery
        dist = _distances(q_feats, g_feats, cfg)
        if cfg.reid.save_features:
            np.savez(
                run.path / "features.npz",
                query_feats=q_feats.numpy(),
                gallery_feats=g_feats.numpy(),
                query_pids=q.pids,
                query_camids=q.camids,
                gallery_pids=g.pids,
                gallery_camids=g.camids,
            )
        if cfg.reid.picture_queries > 0:
            save_ranking_picture(
                dist, q, g, run.pictures / "reid_ranking.png", num_queries=cfg.reid.picture_queries
            )
        return retrieval_metrics(dist, q.pids, g.pids, q.camids, g.camids)

    return evaluate


def _frozen_model(backbone: Backbone, sets: ReidSets, cfg: ReidConfig, device: torch.device) -> nn.Module:
    """The backbone, standardised by training-set statistics with `reid.bnneck`."""
    if not cfg.reid.bnneck:
        return backbone
    backbone.to(device).eval()
    train = extract_features(
        backbone,
        ReidImages(sets.train, eval_transform(cfg.model.img_size)),
        device=device,
        batch_size=cfg.train.eval_batch_size,
        num_workers=cfg.train.num_workers,
    )
    return Standardize(backbone, train.mean(0), train.std(0))


def _finetune_parts(backbone: Backbone, sets: ReidSets, cfg: ReidConfig, evaluate: Evaluate) -> TaskParts:
    section = cfg.reid
    k = section.num_instances
    if cfg.train.batch_size % k or cfg.train.batch_size // k < 2:
        raise ValueError(
            f"train.batch_size ({cfg.train.batch_size}) must be P x K with P >= 2 identities "
            f"and K = reid.num_instances = {k}"
        )
    train = sets.train.relabelled()
    model = ReidModel(backbone, backbone.embed_dim, train.num_ids)
    triplet = TripletLoss(section.triplet_margin)

    def loss(m: nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> dict[str, Tensor]:
        images, pids, _ = batch
        feat, logits = m(images)
        id_loss = F.cross_entropy(logits.float(), pids, label_smoothing=section.label_smoothing)
        tri_loss = triplet(feat, pids)
        total = section.id_weight * id_loss + section.triplet_weight * tri_loss
        return {"loss": total, "loss_id": id_loss, "loss_triplet": tri_loss}

    return TaskParts(
        model=model,
        evaluate=evaluate,
        loss=loss,
        backbone=backbone.model,
        train_set=ReidImages(train, train_transform(cfg.model.img_size, erasing=section.erasing)),
        epoch_batches=lambda epoch: pk_batches(
            train.pids, cfg.train.batch_size // k, k, seed=cfg.train.seed, epoch=epoch
        ),
    )


def run(args: argparse.Namespace) -> dict[str, Metric]:
    """The work of `saip eval reid`: the metrics (also in `metrics.json`); `{}` after `--check-data`."""
    cfg = load_eval_config(ReidConfig, args)
    if args.save_features:
        cfg.reid.save_features = True
    if cfg.protocol not in PROTOCOLS:
        raise ValueError(f"unknown ReID protocol {cfg.protocol!r}; known: {', '.join(PROTOCOLS)}")
    device = select_device(cfg.train.device)
    finetune = cfg.protocol == "finetune"
    sets = read_reid(cfg.data, cfg.format, train=finetune or cfg.reid.bnneck)  # frozen: no train split
    log.info("%s: %d query, %d gallery images", cfg.data, len(sets.query), len(sets.gallery))
    if sets.train is not None:
        log.info("%s: %d train images (%d ids)", cfg.data, len(sets.train), sets.train.num_ids)
    if args.check_data:
        splits = [s for s in (sets.train, sets.query, sets.gallery) if s is not None]
        scan([p for split in splits for p in split.paths], decode_image, str(cfg.data))
        return {}
    backbone = load_eval_backbone(cfg.model, finetune=finetune)
    evaluate = _evaluator(sets, cfg, device)
    parts = _finetune_parts(backbone, sets, cfg, evaluate) if finetune else None
    with open_run(cfg) as run_dir:  # closed (log file, lock) if setup fails too
        if parts is None:
            parts = TaskParts(model=_frozen_model(backbone, sets, cfg, device), evaluate=evaluate)
        return run_task(parts, cfg, run_dir, device=device, resume=args.resume, train=finetune)
