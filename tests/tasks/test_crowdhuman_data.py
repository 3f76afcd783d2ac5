"""CrowdHuman readers (.odgt and COCO person JSON): targets, ignore regions, clipping, bad input."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from saip.errors import DataError
from saip.synth import generate
from saip.tasks.instance.crowdhuman import BoxDataset, load_split, read_odgt

SIZE = (48, 64)  # (H, W) of every test image


def person(fbox: list[float], **extra: Any) -> dict[str, Any]:
    return {"tag": "person", "fbox": fbox, "vbox": fbox, "hbox": fbox[:2] + [4, 4], "extra": extra}


def write_odgt(root: Path, split: str, records: list[dict[str, Any]]) -> Path:
    (root / "Images").mkdir(parents=True, exist_ok=True)
    for record in records:
        Image.new("RGB", SIZE[::-1], (90, 120, 150)).save(root / "Images" / f"{record['ID']}.jpg")
    path = root / f"annotation_{split}.odgt"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def odgt(tmp_path: Path) -> Path:
    records = [
        {
            "ID": "1,a",
            "gtboxes": [
                person([10, 5, 20, 30]),
                person([50, -10, 30, 80]),  # amodal: leaves the image right, top and bottom
                {"tag": "mask", "fbox": [0, 0, 8, 8], "extra": {"ignore": 1}},
                person([30, 30, 6, 6], ignore=1),
                person([5, 5, 0, 10]),  # w = 0: skipped
                person([100, 0, 10, 10]),  # outside the image: skipped
            ],
        },
        {"ID": "2,b", "gtboxes": []},  # empty: skipped
        {"ID": "3,c", "gtboxes": [person([1, 1, 10, 20])]},
    ]
    return write_odgt(tmp_path, "train", records)


def test_targets_ignores_clipping_and_skips(odgt: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        records = load_split(odgt.parent, "crowdhuman", "train")
    assert [r.image_id for r in records] == ["1,a", "3,c"]
    first = records[0]
    assert first.size == SIZE
    np.testing.assert_array_equal(first.boxes, [[10, 5, 30, 35], [50, 0, 64, 48]])
    np.testing.assert_array_equal(first.ignore, [[0, 0, 8, 8], [30, 30, 36, 36]])
    assert "skipped 1 images" in caplog.text and "2 boxes" in caplog.text and "line 2" in caplog.text


def test_coco_person_json(tmp_path: Path) -> None:
    (tmp_path / "Images").mkdir()
    (tmp_path / "annotations").mkdir()
    Image.new("RGB", SIZE[::-1]).save(tmp_path / "Images" / "a.jpg")
    gt = {
        "images": [{"id": 7, "file_name": "a.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 7, "bbox": [2, 3, 10, 20], "category_id": 1, "iscrowd": 0},
            {"id": 2, "image_id": 7, "bbox": [20, 3, 10, 20], "category_id": 1, "iscrowd": 1},
            {"id": 3, "image_id": 7, "bbox": [40, 3, 10, 20], "category_id": 2, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "mask"}],
    }
    (tmp_path / "annotations" / "val.json").write_text(json.dumps(gt))
    (record,) = load_split(tmp_path, "coco", "val")
    np.testing.assert_array_equal(record.boxes, [[2, 3, 12, 23]])
    np.testing.assert_array_equal(record.ignore, [[20, 3, 30, 23]])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"ID": "9,z", "gtboxes": [', "line 2: not valid JSON"),
        ('{"gtboxes": []}', "line 2: not a CrowdHuman record"),
        (
            '{"ID": "9,z", "gtboxes": [{"tag": "person", "fbox": [1, 2, 3]}]}',
            "line 2: box [1, 2, 3] is not 4",
        ),
    ],
)
def test_malformed_line_is_named(odgt: Path, line: str, message: str) -> None:
    lines = odgt.read_text().splitlines()
    odgt.write_text("\n".join([lines[0], line, *lines[1:]]) + "\n")
    with pytest.raises(DataError, match=re.escape(f"annotation_train.odgt, {message}")):
        read_odgt(odgt, odgt.parent / "Images")


def test_missing_image_is_named(odgt: Path) -> None:
    (odgt.parent / "Images" / "3,c.jpg").unlink()
    with pytest.raises(DataError, match=r"1 of 3 listed files are missing, first .*3,c\.jpg"):
        read_odgt(odgt, odgt.parent / "Images")


def test_flipped_sample_mirrors_boxes(odgt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = read_odgt(odgt, odgt.parent / "Images")
    image, target, _ = BoxDataset(records)[0]
    assert image.shape == (3, *SIZE) and 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.zeros(()))
    flipped, mirrored, _ = BoxDataset(records, flip=0.5)[0]
    assert torch.equal(flipped, image.flip(-1))
    assert mirrored["boxes"].tolist() == [[34, 5, 54, 35], [0, 0, 14, 48], [56, 0, 64, 8], [28, 30, 34, 36]]
    assert target["labels"].tolist() == [1, 1, -1, -1]


def test_reads_the_synthetic_writer(tmp_path: Path) -> None:
    root = generate("detection", tmp_path / "ch", seed=0, limit=1)
    for split in ("train", "val"):
        (record,) = load_split(root, "crowdhuman", split)
        assert record.file.is_file() and len(record.boxes) > 0
        h, w = record.size
        assert (record.boxes[:, [0, 2]] <= w).all() and (record.boxes[:, [1, 3]] <= h).all()
