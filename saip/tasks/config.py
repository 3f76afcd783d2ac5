"""Evaluation config schema: one common base (`EvalConfig`) and one section per task.

Why a shared base: every `saip eval TASK` run has the same model / optimiser / loop settings and
the same run-directory conventions, so a task only adds its own section (`reid`, `attributes`,
`pose`, ...). Tasks subclass `EvalConfig`, add their section, and load it with `load_eval_config`,
which applies the command-line flags on top of defaults < `--config` file < `key=value`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from saip.config import load_config

T = TypeVar("T", bound="EvalConfig")


@dataclass
class EvalModelConfig:
    # Backbone registered in saip.models.backbone.BACKBONES; ignored when the weights name their own.
    backbone: str = "vit_tiny"
    # `none` (random init), an exported .safetensors, a saip checkpoint .pt or run directory, or a
    # timm model name (local weights only, nothing is downloaded).
    weights: str = "none"
    # Which network of a saip pretraining checkpoint: the EMA `teacher` (expert encoder) or `student`.
    which: str = "teacher"
    # Input size (H, W); ViT position embeddings are resampled in 2-D to it.
    img_size: tuple[int, int] = (256, 128)
    # Stochastic depth while fine-tuning (0.1 is the usual value for ViT-Tiny/Small).
    drop_path: float = 0.1


@dataclass
class EvalOptimConfig:
    # Peak learning rate of the head; backbone layers get lr x layer_decay^(depth - layer).
    lr: float = 5e-4
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    # Layer-wise lr decay (BEiT/MAE fine-tuning); 1.0 disables it. 0.65 is MAE's ViT value.
    layer_decay: float = 0.65
    # Warm-up in epochs (fractions allowed), then cosine to min_lr.
    warmup_epochs: float = 1.0
    # Gradient-norm clipping; 0 disables it.
    clip_grad: float = 1.0
    # LP-FT (Kumar et al. 2022): the first N steps train only the head (backbone lr 0), so a fresh
    # head's random gradients do not reach pretrained features; the backbone then joins with its own
    # warm-up and cosine over the remaining steps. 0: everything trains from the first step.
    head_only_steps: int = 0


@dataclass
class EvalTrainConfig:
    epochs: int = 10
    # When > 0, the schedule length in optimizer steps; overrides epochs x steps per epoch.
    total_steps: int = 0
    # Stop after this optimizer step without changing the schedule (0: run the whole schedule).
    max_steps: int = 0
    batch_size: int = 64
    # Batch size for feature extraction and evaluation (no gradients, so it can be larger).
    eval_batch_size: int = 128
    num_workers: int = 2
    seed: int = 0
    device: str = "auto"
    # bf16 autocast on CUDA; CPU always runs fp32.
    amp: bool = True
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 2


@dataclass
class EvalConfig:
    name: str = "eval"
    out: str = ""
    # Dataset root in its standard layout (see the task's `--format`).
    data: str = ""
    format: str = ""
    protocol: str = ""
    model: EvalModelConfig = field(default_factory=EvalModelConfig)
    optim: EvalOptimConfig = field(default_factory=EvalOptimConfig)
    train: EvalTrainConfig = field(default_factory=EvalTrainConfig)


def add_eval_arguments(parser: argparse.ArgumentParser, *, formats: list[str], protocols: list[str]) -> None:
    """The flags every `saip eval TASK` takes on top of `saip.cli.add_run_arguments`."""
    parser.add_argument("--data", help="dataset root in its standard layout")
    parser.add_argument("--format", choices=formats, help=f"dataset layout (default: {formats[0]})")
    parser.add_argument("--weights", help="none | exported .safetensors | saip .pt / run dir | timm name")
    parser.add_argument("--protocol", choices=protocols, help=f"default: {protocols[0]}")
    parser.add_argument(
        "--check-data",
        action="store_true",
        help="scan the whole dataset (every image decodes, every label in range) and exit, no training",
    )


# argparse attribute -> config key; flags left unset keep the config's value.
_FLAGS = {
    "data": "data",
    "format": "format",
    "protocol": "protocol",
    "out": "out",
    "weights": "model.weights",
    "device": "train.device",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "max_steps": "train.max_steps",
    "log_every": "train.log_every",
}


def load_eval_config(schema: type[T], args: argparse.Namespace) -> T:
    """defaults < `--config` file < flags < `key=value` overrides, type-checked against `schema`.

    Also seeds torch with `train.seed`: the backbone (`--weights none`) and the task head are built
    right after, so the same seed gives the same initialisation."""
    flags = [
        f"{key}={_quote(getattr(args, attr))}"
        for attr, key in _FLAGS.items()
        if getattr(args, attr, None) is not None
    ]
    cfg = load_config(schema, getattr(args, "config", None), [*flags, *getattr(args, "overrides", [])])
    if not cfg.data:
        raise ValueError("no dataset given: pass --data ROOT (or data=ROOT)")
    torch.manual_seed(cfg.train.seed)
    return cfg


def _quote(value: Any) -> str:
    """Keep paths and names strings in the dotlist (OmegaConf would read `null`, `1e3`, ... as YAML)."""
    return value if isinstance(value, (int, float)) else "'" + str(value).replace("'", "''") + "'"


@dataclass
class ReidSection:
    # Images per identity in a P x K fine-tuning batch (P = train.batch_size / K).
    num_instances: int = 4
    label_smoothing: float = 0.1
    # Batch-hard triplet margin; 0 selects the soft margin.
    triplet_margin: float = 0.3
    id_weight: float = 1.0
    triplet_weight: float = 1.0
    # Random-erasing probability of the fine-tuning augmentation.
    erasing: float = 0.5
    # Average the features of each test image and its mirror image (as published numbers do).
    flip_test: bool = True
    # Frozen protocol: standardise features with training-set statistics (a frozen BN neck).
    bnneck: bool = False
    # k-reciprocal re-ranking (Zhong et al. 2017); needs the (Q + G)^2 distance matrix in memory.
    rerank: bool = False
    rerank_k1: int = 20
    rerank_k2: int = 6
    rerank_lambda: float = 0.3
    # Write features.npz: the exact features the metrics were computed from.
    save_features: bool = False
    # Rows of the ranking picture (0: no picture).
    picture_queries: int = 8


@dataclass
class ReidConfig(EvalConfig):
    name: str = "reid"
    format: str = "market1501"
    protocol: str = "frozen"
    reid: ReidSection = field(default_factory=ReidSection)


@dataclass
class AttributesSection:
    # Decision threshold on the probabilities for the label-based and instance-based metrics.
    threshold: float = 0.5
    # Weight positives by exp(1 - p) and negatives by exp(p), p the attribute's train frequency
    # (Li et al. 2015, DeepMAR), which counters the rarity of most attributes.
    weighted_loss: bool = True
    # PETA only: the split file (zero-shot PETA-zs pickle or JSON list), relative to the root.
    peta_split: str = "peta_zs.pkl"
    erasing: float = 0.0


@dataclass
class AttributesConfig(EvalConfig):
    name: str = "attributes"
    format: str = "pa100k"
    protocol: str = "linear"
    attributes: AttributesSection = field(default_factory=AttributesSection)
