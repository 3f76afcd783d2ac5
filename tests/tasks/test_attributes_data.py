"""Attribute dataset readers: PA-100K as generated, PETA.mat with its zero-shot split, bad input."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import scipy.io
from PIL import Image

from saip.errors import DataError
from saip.tasks.data.attribute_sets import read_attributes
from saip.tasks.data.safe_pickle import load_plain_pickle


def test_pa100k(pa100k_root) -> None:
    sets = read_attributes(pa100k_root, "pa100k")
    mat = scipy.io.loadmat(pa100k_root / "annotation.mat")
    assert len(sets.names) == 26 and sets.names[0] == str(mat["attributes"][0, 0][0])
    np.testing.assert_array_equal(sets.test.labels, mat["test_label"])  # test labels in file order
    assert len(sets.train.paths) == len(mat["train_label"]) + len(mat["val_label"])  # train + val


def _write_peta(root, n: int = 6) -> np.ndarray:
    (root / "images").mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (16, 32)).save(root / "images" / f"{i + 1:05d}.png")
    labels = (np.arange(n * 105).reshape(n, 105) % 3 == 0).astype(np.float64)
    data = np.concatenate([np.zeros((n, 4)), labels], 1)
    partition = np.empty((5, 1), dtype=object)
    for k in range(5):  # the random partitions: structs of 1-based index columns
        partition[k, 0] = {
            "train": np.array([[1], [2]]),
            "val": np.array([[3]]),
            "test": np.array([[4], [5], [6]]),
        }
    names = np.array([[f"attr{i}"] for i in range(105)], dtype=object)
    scipy.io.savemat(
        root / "PETA.mat", {"peta": {"data": data, "attribute": names, "partion_attribute": partition}}
    )
    return labels


def test_peta_zero_shot_split(tmp_path) -> None:
    labels = _write_peta(tmp_path)
    (tmp_path / "zs.json").write_text(json.dumps({"train_idx": [5, 0], "val_idx": [1], "test_idx": [3, 2]}))
    sets = read_attributes(tmp_path, "peta", "zs.json")
    assert len(sets.names) == 35 and sets.names[34] == "attr34"
    assert [p.name for p in sets.train.paths] == ["00006.png", "00001.png", "00002.png"]
    np.testing.assert_array_equal(sets.test.labels, labels[[3, 2], :35])
    with open(tmp_path / "zs.pkl", "wb") as f:
        pickle.dump(
            {
                "train_idx": np.array([0, 1]),
                "val_idx": np.array([], dtype=np.int64),
                "test_idx": np.array([2]),
            },
            f,
        )
    assert len(read_attributes(tmp_path, "peta", "zs.pkl").train.paths) == 2


def test_peta_mat_partition(tmp_path) -> None:
    _write_peta(tmp_path)
    sets = read_attributes(tmp_path, "peta", "")
    assert [p.name for p in sets.test.paths] == ["00004.png", "00005.png", "00006.png"]


class _Evil:
    def __reduce__(self):  # noqa: ANN204
        return (os.system, ("echo should-never-run",))


def test_restricted_unpickler(tmp_path) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"train_idx": _Evil()}))
    with pytest.raises(ValueError, match="refusing to load"):
        load_plain_pickle(path)


def test_layout_errors(tmp_path, pa100k_root) -> None:
    with pytest.raises(FileNotFoundError, match="PA-100K layout"):
        read_attributes(tmp_path, "pa100k")
    with pytest.raises(FileNotFoundError, match="PETA layout"):
        read_attributes(tmp_path, "peta", "zs.pkl")
    _write_peta(tmp_path)
    with pytest.raises(FileNotFoundError, match="split file not found"):
        read_attributes(tmp_path, "peta", "missing.pkl")
    (tmp_path / "bad.json").write_text(json.dumps({"train_idx": [0], "val_idx": [], "test_idx": [99]}))
    with pytest.raises(ValueError, match="out of range"):
        read_attributes(tmp_path, "peta", "bad.json")
    with pytest.raises(ValueError, match="unknown attribute format"):
        read_attributes(pa100k_root, "rap")


def test_peta_label_other_than_0_or_1_is_a_data_error_naming_the_file(tmp_path) -> None:
    """-1 ("unknown", as some attribute sets write it) is refused, not trained on as a label."""
    _write_peta(tmp_path)
    mat = scipy.io.loadmat(tmp_path / "PETA.mat")
    mat["peta"][0, 0]["data"][3, 4 + 2] = -1  # test image 00004.png, attribute attr2
    scipy.io.savemat(tmp_path / "PETA.mat", {"peta": mat["peta"]})
    with pytest.raises(DataError) as caught:
        read_attributes(tmp_path, "peta")
    assert str(caught.value) == (
        f"{tmp_path / 'PETA.mat'}: test labels must be 0 or 1, got -1 for 00004.png, attribute attr2 (1 bad in all)"
    )
