"""Shared fixtures: tiny pretraining configs and paths to the optional real data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PKU_REID = SHARED_DATA / "pku-reid"

torch.set_num_threads(2)

# The smallest config that still runs every part of SAIP: a 4-block 48-wide ViT on 64x32 crops,
# 32x16 local views, a 64x64 scene (4x4 search grid), K=32 prototypes, slim decoders.
TINY_OVERRIDES = [
    "model.backbone=vit_micro",
    "model.img_size=[64,32]",
    "views.global_size=[64,32]",
    "views.local_size=[32,16]",
    "views.num_local=3",
    "scene.size=[64,64]",
    "data.synthetic_size=[64,32]",
    "data.synthetic_images=24",
    "data.num_workers=0",
    "csm.out_dim=32",
    "csm.hidden_dim=32",
    "csm.bottleneck_dim=16",
    "csr.decoder_dim=32",
    "csr.decoder_depth=1",
    "csr.decoder_heads=2",
    "css.dim=32",
    "css.heads=2",
    "css.query_depth=1",
    "css.mask_convs=1",
    "train.batch_size=4",
    "train.epochs=2",
    "optim.warmup_epochs=1",
    "train.log_every=1",
    "train.checkpoint_every=2",
    "train.picture_every=1000",
]


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY_OVERRIDES)


@pytest.fixture
def pku_reid() -> Path:
    if not (PKU_REID / "bounding_box_train").is_dir():
        pytest.skip("../shared/data/pku-reid is absent")
    return PKU_REID
