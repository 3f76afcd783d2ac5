"""Small configs and generated image folders shared by the data tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saip.config import PretrainConfig, load_config

# Tiny shapes: global (64, 32), local (32, 16), scene (64, 64) with 16-px cells.
SMALL = [
    "views.global_size=[64,32]",
    "views.local_size=[32,16]",
    "views.num_local=3",
    "scene.size=[64,64]",
    "data.synthetic_size=[64,32]",
    "data.num_workers=0",
    "train.batch_size=2",
    "train.device=cpu",
]


def small_config(*overrides: str) -> PretrainConfig:
    return load_config(PretrainConfig, overrides=[*SMALL, *overrides])


def person_image(seed: int, size: tuple[int, int] = (48, 24)) -> Image.Image:
    """A random (H, W) RGB image: content differs per seed so samples can be told apart."""
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def write_images(folder: Path, count: int, start: int = 0, suffix: str = ".png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{start + i:04d}{suffix}" for i in range(count)]
    for i, path in enumerate(paths):
        person_image(start + i).save(path)
    return paths


@pytest.fixture(autouse=True)
def one_thread():
    """Run like a DataLoader worker (one intra-op thread): tiny ops only lose time to thread hand-offs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    write_images(tmp_path / "people", 12)
    return tmp_path / "people"


@pytest.fixture
def make_config() -> Callable[..., PretrainConfig]:
    """`small_config` for tests that take fixtures rather than import conftest."""
    return small_config
