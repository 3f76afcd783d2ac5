"""ReID dataset readers: Market-1501 names, MSMT17 lists, clear errors for the wrong layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.transforms import v2

from saip.tasks.data.reid_sets import ReidImages, read_reid
from saip.tasks.data.transforms import eval_transform, train_transform


def _touch_images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (16, 32), (10, 20, 30)).save(folder / name)


def test_market_names(tmp_path) -> None:
    _touch_images(
        tmp_path / "bounding_box_train",
        ["0002_c1s1_000451_03.jpg", "0007_c6s2_000001_01.jpg", "0002_c2s1_000001_01.jpg"],
    )
    _touch_images(tmp_path / "query", ["0003_c3s1_000001_00.jpg"])
    _touch_images(tmp_path / "bounding_box_test", ["-1_c1s1_000001_00.jpg", "0000_c5s1_000001_00.jpg"])
    (tmp_path / "bounding_box_test" / "Thumbs.db").write_text("not an image")
    sets = read_reid(tmp_path, "market1501")
    np.testing.assert_array_equal(sets.train.pids, [2, 2, 7])  # sorted by name
    np.testing.assert_array_equal(sets.train.camids, [0, 1, 5])
    np.testing.assert_array_equal(sets.gallery.pids, [-1, 0])
    np.testing.assert_array_equal(sets.train.relabelled().pids, [0, 0, 1])
    image, pid, cam = ReidImages(sets.query, eval_transform((32, 16)))[0]
    assert image.shape == (3, 32, 16) and (pid, cam) == (3, 2)


def test_market_layout_errors(tmp_path) -> None:
    _touch_images(tmp_path / "query", ["0003_c3s1_000001_00.jpg"])
    with pytest.raises(FileNotFoundError, match="missing bounding_box_train/, bounding_box_test/"):
        read_reid(tmp_path, "market1501")
    _touch_images(tmp_path / "bounding_box_train", ["person.jpg"])
    _touch_images(tmp_path / "bounding_box_test", ["0003_c1s1_000001_00.jpg"])
    with pytest.raises(ValueError, match="not Market-1501 names"):
        read_reid(tmp_path, "market1501")
    with pytest.raises(ValueError, match="unknown ReID format"):
        read_reid(tmp_path, "cuhk03")


def test_msmt17_lists(tmp_path) -> None:
    _touch_images(tmp_path / "train" / "0000", ["0000_000_01_0303morning_0015_0.jpg"])
    _touch_images(tmp_path / "train" / "0001", ["0001_000_14_0303noon_0001_0.jpg"])
    _touch_images(
        tmp_path / "test" / "0000",
        ["0000_000_05_0303morning_0001_0.jpg", "0000_001_02_0303morning_0002_0.jpg"],
    )
    (tmp_path / "list_train.txt").write_text("0000/0000_000_01_0303morning_0015_0.jpg 0\n")
    (tmp_path / "list_val.txt").write_text("0001/0001_000_14_0303noon_0001_0.jpg 1\n")
    (tmp_path / "list_query.txt").write_text("0000/0000_000_05_0303morning_0001_0.jpg 0\n")
    (tmp_path / "list_gallery.txt").write_text("0000/0000_001_02_0303morning_0002_0.jpg 0\n")
    sets = read_reid(tmp_path, "msmt17")
    np.testing.assert_array_equal(sets.train.pids, [0, 1])  # train + val
    np.testing.assert_array_equal(sets.train.camids, [0, 13])
    np.testing.assert_array_equal(sets.gallery.camids, [1])
    (tmp_path / "list_query.txt").write_text("0000/0000_000_05_0303morning_0001_0.jpg\n")
    with pytest.raises(ValueError, match="list_query.txt:1"):
        read_reid(tmp_path, "msmt17")
    (tmp_path / "list_val.txt").unlink()
    with pytest.raises(FileNotFoundError, match="missing list_val.txt"):
        read_reid(tmp_path, "msmt17")


def test_train_split_is_read_only_when_asked_for(tmp_path) -> None:
    _touch_images(tmp_path / "market" / "query", ["0003_c3s1_000001_00.jpg"])
    _touch_images(tmp_path / "market" / "bounding_box_test", ["0003_c1s1_000001_00.jpg"])
    sets = read_reid(tmp_path / "market", "market1501", train=False)
    assert sets.train is None and len(sets.query) == len(sets.gallery) == 1
    with pytest.raises(FileNotFoundError, match="missing bounding_box_train/"):
        read_reid(tmp_path / "market", "market1501")
    msmt = tmp_path / "msmt"
    _touch_images(msmt / "test" / "0000", ["0000_000_05_0303morning_0001_0.jpg"])
    for split in ("query", "gallery"):
        (msmt / f"list_{split}.txt").write_text("0000/0000_000_05_0303morning_0001_0.jpg 0\n")
    assert read_reid(msmt, "msmt17", train=False).train is None
    with pytest.raises(FileNotFoundError, match="missing train, list_train.txt, list_val.txt"):
        read_reid(msmt, "msmt17")


@pytest.mark.parametrize(("size", "pad"), [((256, 128), 10), ((128, 64), 5), ((64, 32), 2), ((16, 8), 1)])
def test_train_pad_scales_with_height(size: tuple[int, int], pad: int) -> None:
    """The recipe's 10 px at 256 px height, scaled, so a small input is not shifted by a third."""

    def pads(transform: v2.Compose) -> list:
        return [t.padding for t in transform.transforms if isinstance(t, v2.Pad)]

    assert pads(train_transform(size)) == [pad]
    assert pads(train_transform(size, pad=7)) == [7]
