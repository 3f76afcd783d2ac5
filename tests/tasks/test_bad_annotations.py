"""A bad annotation file fails before any work with one line naming the file and the record."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from torch._utils import ExceptionWrapper

from saip.cli import main
from saip.errors import DataError
from saip.synth import generate
from saip.tasks.dense.lip import LIPDataset, lip_files

FAST = ["--weights", "none", "model.backbone=vit_micro", "--device", "cpu", "train.num_workers=0"]
TRAIN_JSON = "annotations/person_keypoints_train2017.json"


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny generated set per task, copied before each test breaks it."""
    base = tmp_path_factory.mktemp("sets")
    return {
        task: generate(preset, base / task, seed=0, limit=3)
        for task, preset in (("pose", "pose"), ("attributes", "attributes"), ("parsing", "parsing"))
    }


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _first_with_points(gt: dict) -> dict:
    return next(a for a in gt["annotations"] if any(a["keypoints"][2::3]))


def no_bbox(root: Path) -> str:
    ann_id = _first_with_points(json.loads((root / TRAIN_JSON).read_text()))["id"]
    _edit_json(root / TRAIN_JSON, lambda gt: _first_with_points(gt).pop("bbox"))
    return f"{root / TRAIN_JSON}: annotation {ann_id} has no bbox"


def short_keypoints(root: Path) -> str:
    ann_id = _first_with_points(json.loads((root / TRAIN_JSON).read_text()))["id"]
    _edit_json(root / TRAIN_JSON, lambda gt: _first_with_points(gt)["keypoints"].__delitem__(slice(-3, None)))
    return f"{root / TRAIN_JSON}: annotation {ann_id}: keypoints has 48 values"


def image_size(root: Path) -> str:
    """The record says one pixel wider than the image file (annotations made for a resized copy)."""
    gt = json.loads((root / TRAIN_JSON).read_text())
    image_id = _first_with_points(gt)["image_id"]
    record = next(img for img in gt["images"] if img["id"] == image_id)
    _edit_json(
        root / TRAIN_JSON,
        lambda gt: next(i for i in gt["images"] if i["id"] == image_id).update(width=record["width"] + 1),
    )
    w, h = record["width"], record["height"]
    file = root / "train2017" / record["file_name"]
    return f"{file}: {w}x{h} pixels, but image {image_id} in the coco train annotations says {w + 1}x{h}"


def truncated_json(root: Path) -> str:
    text = (root / TRAIN_JSON).read_text()
    (root / TRAIN_JSON).write_text(text[: len(text) // 2])
    return f"{root / TRAIN_JSON}: not valid JSON at line 1"


def truncated_mat(root: Path) -> str:
    data = (root / "annotation.mat").read_bytes()
    (root / "annotation.mat").write_bytes(data[: len(data) // 2])
    return f"{root / 'annotation.mat'}: not a readable MATLAB file"


def label_not_binary(root: Path) -> str:
    """A train label of 2 (a soft or shifted label) in PA-100K's annotation.mat."""
    path = root / "annotation.mat"
    mat = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    mat["train_label"][1, 3] = 2
    scipy.io.savemat(path, mat)
    image = np.asarray(mat["train_images_name"].ravel()[1]).ravel()[0]
    attribute = np.asarray(mat["attributes"].ravel()[3]).ravel()[0]
    return f"{path}: train+val labels must be 0 or 1, got 2 for {image}, attribute {attribute} (1 bad in all)"


def missing_middle_image(root: Path) -> str:
    images = sorted((root / "data").iterdir())
    images[len(images) // 2].unlink()
    return f"1 of 6 listed files are missing, first {images[len(images) // 2]}"


def label_size(root: Path) -> str:
    label = sorted((root / "TrainVal_parsing_annotations" / "val_segmentations").iterdir())[1]
    with Image.open(label) as im:
        im.resize((im.width + 1, im.height)).save(label)
    return f"LIP val: 1 labels differ in size from their image, first {label}"


def label_value(root: Path) -> str:
    label = sorted((root / "TrainVal_parsing_annotations" / "train_segmentations").iterdir())[0]
    with Image.open(label) as im:
        values = np.array(im)
    values[0, 0] = 30
    Image.fromarray(values).save(label)
    return f"{label}: label values [30] outside 0..19 and 255"


def truncated_image(root: Path) -> str:
    image = sorted((root / "data").iterdir())[2]
    image.write_bytes(image.read_bytes()[:200])
    return f"1 of 9 samples are bad: {image}: does not decode"


@pytest.mark.parametrize(
    ("task", "breaks", "check_data"),
    [
        ("pose", no_bbox, False),
        ("pose", short_keypoints, False),
        ("pose", truncated_json, False),
        ("pose", image_size, False),
        ("attributes", truncated_mat, False),
        ("attributes", label_not_binary, False),
        ("attributes", missing_middle_image, False),
        ("parsing", label_size, False),
        ("parsing", label_value, True),
        ("attributes", truncated_image, True),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_bad_file_is_one_line_before_work(
    roots: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    task: str,
    breaks: Callable[[Path], str],
    check_data: bool,
) -> None:
    root = tmp_path / task
    shutil.copytree(roots[task], root)
    expected = breaks(root)
    out = tmp_path / "run"
    argv = ["eval", task, "--data", str(root), "--out", str(out), *FAST] + ["--check-data"] * check_data
    assert main(argv) == 2
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert expected in error and "\n" not in error
    assert not out.exists()


@pytest.mark.parametrize("task", ["pose", "attributes", "parsing"])
def test_check_data_passes_a_good_set_without_a_run(
    roots: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, task: str
) -> None:
    caplog.set_level(logging.INFO)
    out = tmp_path / "run"
    assert main(["eval", task, "--data", str(roots[task]), "--out", str(out), *FAST, "--check-data"]) == 0
    assert "samples decode and their labels are in range" in caplog.text and not out.exists()


def test_out_of_range_label_fails_when_loaded_naming_the_file(roots: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "lip"
    shutil.copytree(roots["parsing"], root)
    expected = label_value(root)
    try:
        LIPDataset(lip_files(root, "train"), (32, 24))[0]
    except DataError:  # as a DataLoader worker catches it, to re-raise it in the main process
        wrapped = ExceptionWrapper(where="in DataLoader worker process 0")
    with pytest.raises(DataError) as caught:
        wrapped.reraise()
    assert str(caught.value) == expected  # one line, not the worker's traceback
