"""Session-scoped tiny datasets in the real layouts, written by `saip.synth.generate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from saip.synth import generate

PKU_REID = Path(__file__).resolve().parents[3] / "shared" / "data" / "pku-reid"


@pytest.fixture(scope="session")
def market_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Market-1501 layout: ~40 images per folder, with distractors (0000) and junk (-1)."""
    return generate("reid", tmp_path_factory.mktemp("market"), seed=0, limit=40)


@pytest.fixture(scope="session")
def pa100k_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PA-100K layout: annotation.mat + data/, 24 images per split."""
    return generate("attributes", tmp_path_factory.mktemp("pa100k"), seed=0, limit=24)


@pytest.fixture
def pku_reid() -> Path:
    if not (PKU_REID / "query").is_dir():
        pytest.skip(f"{PKU_REID} not present")
    return PKU_REID


def _write_cihp(root: Path, counts: dict[str, int], size: tuple[int, int]) -> Path:
    """CIHP layout, images (H, W) = `size` with 1-2 people as two-part rectangles (upper clothes 5
    over pants 9, left arm 14 at the side), ids 20 (k - 1) + class as the release numbers them."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    h, w = size
    colours = {5: (200, 40, 40), 9: (40, 40, 200), 14: (230, 190, 150)}
    for split, folder in (("train", "Training"), ("val", "Validation")):
        ids = [f"{split}{k:03d}" for k in range(counts[split])]
        for d in ("Images", "Category_ids", "Human_ids", "Instance_ids"):
            (root / folder / d).mkdir(parents=True)
        for i in ids:
            image = np.full((h, w, 3), (60, 90, 60), np.uint8)
            category, human = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
            for k in range(1, int(rng.integers(1, 3)) + 1):
                x = int(rng.integers(0, w // 2 - 10)) + (k - 1) * (w // 2)
                y, ph = int(rng.integers(0, h // 3)), int(rng.integers(h // 2, 2 * h // 3))
                for cls, rows, cols in (
                    (5, (y, y + ph // 2), (x + 2, x + 10)),
                    (9, (y + ph // 2, y + ph), (x + 2, x + 10)),
                    (14, (y + 2, y + ph // 2), (x, x + 2)),
                ):
                    category[rows[0] : rows[1], cols[0] : cols[1]] = cls
                    human[rows[0] : rows[1], cols[0] : cols[1]] = k
                    image[rows[0] : rows[1], cols[0] : cols[1]] = colours[cls]
            instance = np.where(category > 0, 20 * (human.astype(np.int64) - 1) + category, 0).astype(
                np.uint8
            )
            Image.fromarray(image).save(root / folder / "Images" / f"{i}.jpg", quality=95)
            for d, array in (("Category_ids", category), ("Human_ids", human), ("Instance_ids", instance)):
                Image.fromarray(array, mode="L").save(root / folder / d / f"{i}.png")
        (root / folder / f"{split}_id.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


@pytest.fixture(scope="session")
def cihp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CIHP layout: 4 train and 2 val 48x64 images of 1-2 people."""
    return _write_cihp(tmp_path_factory.mktemp("cihp"), {"train": 4, "val": 2}, (48, 64))


@pytest.fixture
def cihp_copy(cihp_root: Path, tmp_path: Path) -> Path:
    """A private copy of `cihp_root` that a test may break."""
    import shutil

    return Path(shutil.copytree(cihp_root, tmp_path / "cihp"))
