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


def _write_fashion(root: Path, counts: dict[str, int]) -> Path:
    """Fashionpedia layout: 48x64 images of a shirt (category 0) over pants (category 6, no
    attributes) and sometimes a hat (14); attribute ids 3, 17, 115 (not contiguous), the shirt
    striped (17) or plain (3)."""
    import json

    import numpy as np
    from PIL import Image
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    ann_id = 0
    for split, folder in (("train", "train"), ("val", "test")):
        (root / folder).mkdir(parents=True)
        images, annotations = [], []
        for k in range(counts[split]):
            image_id = 100 + k if split == "train" else 200 + k
            image = np.full((64, 48, 3), 90, np.uint8)
            x = int(rng.integers(4, 20))
            striped = bool(rng.integers(0, 2))
            parts = [(0, (x, 10, 20, 20), [17] if striped else [3]), (6, (x + 2, 30, 16, 28), [])]
            if rng.integers(0, 2):
                parts.append((14, (x + 4, 2, 12, 7), []))
            for cat, (bx, by, bw, bh), attrs in parts:
                colour = {0: (200, 50, 50), 6: (40, 40, 160), 14: (230, 220, 40)}[cat]
                image[by : by + bh, bx : bx + bw] = colour
                if cat == 0 and striped:
                    image[by : by + bh : 4, bx : bx + bw] = 255
                mask = np.zeros((64, 48), np.uint8)
                mask[by : by + bh, bx : bx + bw] = 1
                rle = mask_utils.encode(np.asfortranarray(mask))
                ann_id += 1
                annotations.append(
                    {
                        "id": ann_id,
                        "image_id": image_id,
                        "category_id": cat,
                        "bbox": [bx, by, bw, bh],
                        "area": float(bw * bh),
                        "iscrowd": 0,
                        "segmentation": {"size": [64, 48], "counts": rle["counts"].decode("ascii")},
                        "attribute_ids": attrs,
                    }
                )
            Image.fromarray(image).save(root / folder / f"{image_id}.jpg", quality=95)
            images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 48, "height": 64})
        data = {
            "images": images,
            "annotations": annotations,
            "categories": [
                {"id": 0, "name": "shirt, blouse", "supercategory": "upperbody"},
                {"id": 6, "name": "pants", "supercategory": "lowerbody"},
                {"id": 14, "name": "hat", "supercategory": "head"},
            ],
            "attributes": [
                {"id": 3, "name": "plain (pattern)", "supercategory": "textile pattern"},
                {"id": 17, "name": "stripe", "supercategory": "textile pattern"},
                {"id": 115, "name": "mini (length)", "supercategory": "length"},
            ],
        }
        (root / "annotations").mkdir(exist_ok=True)
        (root / "annotations" / f"instances_attributes_{split}2020.json").write_text(json.dumps(data))
    return root


@pytest.fixture(scope="session")
def fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Fashionpedia layout: 4 train and 2 val images."""
    return _write_fashion(tmp_path_factory.mktemp("fashion"), {"train": 4, "val": 2})
