"""The CIHP reader: records, persons and part regions, training targets, the mirror, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saip.errors import DataError
from saip.tasks.instance.cihp import CIHPDataset, cihp_split, load_labels


def test_records_labels_and_targets(cihp_root: Path) -> None:
    records = cihp_split(cihp_root, "val")
    assert [r.image_id for r in records] == ["val000", "val001"]
    labels = load_labels(records[0])
    ids, persons = labels.persons()
    classes, masks = labels.regions()
    assert len(persons) == len(ids) >= 1 and set(np.unique(persons)) <= {0, 5, 9, 14}
    assert len(classes) == 3 * len(ids) and masks.sum() == (labels.category > 0).sum()
    image, target, index = CIHPDataset(records)[0]
    assert image.shape == (3, 48, 64) and 0.0 <= image.min() and image.max() <= 1.0 and index == 0
    assert target["masks"].shape == (len(ids), 48, 64) and target["labels"].tolist() == [1] * len(ids)
    for box, mask in zip(target["boxes"], target["masks"], strict=True):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert torch.equal(target["parts"], torch.from_numpy(labels.category))


def test_mirror_swaps_left_and_right_classes(cihp_root: Path) -> None:
    records = cihp_split(cihp_root, "val")
    plain = CIHPDataset(records)[0][1]
    mirrored = CIHPDataset(records, flip=1.0)[0][1]
    flipped = plain["parts"].flip(-1)
    assert torch.equal(mirrored["parts"][flipped == 14], torch.full_like(flipped[flipped == 14], 15))
    assert torch.equal(mirrored["masks"], plain["masks"].flip(-1))
    assert torch.equal(mirrored["boxes"][:, [0, 2]], 64 - plain["boxes"][:, [2, 0]])


def _rewrite(path: Path, change) -> None:
    array = np.asarray(Image.open(path), dtype=np.uint8).copy()
    change(array)
    Image.fromarray(array, mode="L").save(path)


def test_instance_ids_that_disagree_with_the_categories_are_named(cihp_copy: Path) -> None:
    record = cihp_split(cihp_copy, "train")[0]
    _rewrite(record.instance, lambda a: a.__setitem__((0, 0), 7))  # an id on background
    with pytest.raises(DataError, match=rf"{record.instance}: instance id 7 at \(x=0, y=0\)"):
        load_labels(record)
    record = cihp_split(cihp_copy, "train")[1]
    cat = np.asarray(Image.open(record.category))
    _rewrite(record.instance, lambda a: a.__setitem__(cat == 9, 5))  # pants get the shirt's id
    with pytest.raises(DataError, match="spans more than one class"):
        load_labels(record)


def test_bad_layouts_fail_before_any_work(cihp_copy: Path) -> None:
    record = cihp_split(cihp_copy, "val")[1]
    _rewrite(record.category, lambda a: a.__setitem__((0, 0), 30))
    with pytest.raises(DataError, match="class values \\[30\\]"):
        load_labels(record)
    Image.new("L", (10, 10)).save(record.human)
    with pytest.raises(DataError, match=f"{record.human} is \\(10, 10\\)"):
        cihp_split(cihp_copy, "val")
    record.image.unlink()
    with pytest.raises(DataError, match=f"1 of 8 listed files are missing, first {record.image}"):
        cihp_split(cihp_copy, "val")
    (cihp_copy / "Validation" / "val_id.txt").unlink()
    with pytest.raises(ValueError, match="val_id.txt is missing"):
        cihp_split(cihp_copy, "val")
