"""Every writer round-trips through its standard reader, with labels in range."""

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from saip.synth import generate
from saip.synth.appearance import PA100K_ATTRIBUTES
from saip.synth.formats.cihp import part_instances
from saip.tasks.instance.cihp import cihp_split, load_labels
from saip.tasks.instance.fashionpedia import FashionDataset, load_split

LIMIT = 3
# pycocotools' mask decoding trips a NumPy 2 deprecation warning that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synth")


def _make(root: Path, preset: str, limit: int = LIMIT) -> Path:
    out = root / preset
    if not out.exists():
        generate(preset, out, seed=1, limit=limit)
    return out


def _coco(path: Path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_pose_coco_loads_and_gt_scores_ap_one(root: Path) -> None:
    out = _make(root, "pose")
    for split in ("train", "val"):
        gt = _coco(out / "annotations" / f"person_keypoints_{split}2017.json")
        assert len(gt.getImgIds()) == LIMIT
        for img in gt.dataset["images"]:
            assert Image.open(out / f"{split}2017" / img["file_name"]).size == (img["width"], img["height"])
        anns = gt.dataset["annotations"]
        for a in anns:
            kps = np.asarray(a["keypoints"]).reshape(17, 3)
            assert a["num_keypoints"] == int((kps[:, 2] > 0).sum())
            assert int(gt.annToMask(a).sum()) == a["area"]
    results = [dict(a, score=1.0) for a in anns if a["num_keypoints"] > 0]
    assert results
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_wholebody_fields(root: Path) -> None:
    out = _make(root, "wholebody", limit=2)
    gt = _coco(out / "annotations" / "coco_wholebody_val_v1.0.json")
    sizes = {"keypoints": 51, "foot_kpts": 18, "face_kpts": 204, "lefthand_kpts": 63, "righthand_kpts": 63}
    for a in gt.dataset["annotations"]:
        assert {k: len(a[k]) for k in sizes} == sizes
        for part in ("face", "lefthand", "righthand"):
            assert len(a[f"{part}_box"]) == 4 and isinstance(a[f"{part}_valid"], bool)
    assert any(a["face_valid"] for a in gt.dataset["annotations"])


def test_pa100k_annotation_mat(root: Path) -> None:
    out = _make(root, "attributes")
    mat = scipy.io.loadmat(str(out / "annotation.mat"))
    assert [str(a[0]) for a in mat["attributes"][:, 0]] == list(PA100K_ATTRIBUTES)
    for split in ("train", "val", "test"):
        names, labels = mat[f"{split}_images_name"][:, 0], mat[f"{split}_label"]
        assert labels.shape == (len(names), 26) and set(np.unique(labels)) <= {0, 1}
        assert all((out / "data" / str(n[0])).is_file() for n in names)
    views = mat["train_label"][:, 4:7]  # Front, Side, Back: exactly one
    assert (views.sum(1) == 1).all()


def test_lip_layout_and_label_maps(root: Path) -> None:
    out = _make(root, "parsing")
    for split in ("train", "val"):
        ids = (out / f"{split}_id.txt").read_text().split()
        assert len(ids) == LIMIT
        for i in ids:
            image = Image.open(out / "TrainVal_images" / f"{split}_images" / f"{i}.jpg")
            labels = Image.open(out / "TrainVal_parsing_annotations" / f"{split}_segmentations" / f"{i}.png")
            assert labels.mode == "L" and labels.size == image.size
            values = np.asarray(labels)
            assert values.max() <= 19 and (values > 0).any()


def test_crowdhuman_odgt(root: Path) -> None:
    out = _make(root, "detection")
    for split in ("train", "val"):
        lines = (out / f"annotation_{split}.odgt").read_text().splitlines()
        assert len(lines) == LIMIT
        for line in lines:
            record = json.loads(line)
            w, h = Image.open(out / "Images" / f"{record['ID']}.jpg").size
            for box in record["gtboxes"]:
                assert box["tag"] in ("person", "mask")
                vx, vy, vw, vh = box["vbox"]
                fx, fy, fw, fh = box["fbox"]
                assert 0 <= vx and 0 <= vy and vx + vw <= w and vy + vh <= h
                assert fx <= vx + 1 and fy <= vy + 1 and fx + fw >= vx + vw - 1 and fy + fh >= vy + vh - 1


def test_cihp_layout(root: Path) -> None:
    out = _make(root, "mhp")
    for folder, split in (("Training", "train"), ("Validation", "val")):
        for i in (out / folder / f"{split}_id.txt").read_text().split():
            size = Image.open(out / folder / "Images" / f"{i}.jpg").size
            pngs = [
                Image.open(out / folder / d / f"{i}.png")
                for d in ("Category_ids", "Human_ids", "Instance_ids")
            ]
            assert [p.mode for p in pngs] == ["L", "L", "L"]
            cat, human, inst = (np.asarray(p, dtype=np.int64) for p in pngs)
            assert cat.shape[::-1] == size and cat.max() <= 19
            np.testing.assert_array_equal(cat > 0, human > 0)
            np.testing.assert_array_equal(inst, np.where(cat > 0, 20 * (human - 1) + cat, 0))
        records = cihp_split(out, split)  # and the evaluator's reader takes it
        assert [r.image_id for r in records] == (out / folder / f"{split}_id.txt").read_text().split()
        for record in records:
            load_labels(record)


def test_pedes_json(root: Path) -> None:
    out = _make(root, "text")
    records = json.loads((out / "reid_raw.json").read_text())
    assert {r["split"] for r in records} == {"train", "val", "test"}
    for r in records:
        assert set(r) == {"split", "captions", "file_path", "processed_tokens", "id"}
        assert len(r["captions"]) == 2 and len(r["processed_tokens"]) == 2
        assert (out / "imgs" / r["file_path"]).is_file()
    by_id: dict[int, set[str]] = {}
    for r in records:
        by_id.setdefault(r["id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_id.values())  # an identity lives in one split


def test_fashion_coco_with_attributes(root: Path) -> None:
    out = _make(root, "fashion")
    gt = _coco(out / "annotations" / "instances_attributes_train2020.json")
    attribute_ids = {a["id"] for a in gt.dataset["attributes"]}
    assert gt.dataset["annotations"]
    for a in gt.dataset["annotations"]:
        mask = gt.annToMask(a)
        assert int(mask.sum()) == a["area"] > 0
        ys, xs = np.nonzero(mask)
        x, y, w, h = a["bbox"]
        assert xs.min() >= x and ys.min() >= y and xs.max() < x + w and ys.max() < y + h
        assert set(a["attribute_ids"]) <= attribute_ids
        assert a["category_id"] in gt.cats
    assert sorted(attribute_ids) != list(range(len(attribute_ids)))  # ids with gaps, as Fashionpedia's
    for split in ("train", "val"):  # and the evaluator's reader takes it
        fashion = load_split(out, split)
        assert fashion.attribute_ids == [a["id"] for a in gt.dataset["attributes"]]
        assert FashionDataset(fashion)[0][1]["attributes"].shape[1] == len(attribute_ids)


def test_market_names_splits_and_matches(root: Path) -> None:
    out = _make(root, "reid", limit=40)
    pattern = re.compile(r"^(-1|\d{4})_c([1-6])s(\d)_(\d{6})_(\d{2})\.jpg$")
    parsed = {}
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        names = sorted(p.name for p in (out / folder).iterdir())
        assert names and all(pattern.match(n) for n in names)
        parsed[folder] = [(int(pattern.match(n).group(1)), int(pattern.match(n).group(2))) for n in names]
        assert all(Image.open(out / folder / n).size == (64, 128) for n in names[:3])
    train_ids = {p for p, _ in parsed["bounding_box_train"]}
    gallery = parsed["bounding_box_test"]
    assert {0, -1} <= {p for p, _ in gallery}  # distractors and junk, as Market has them
    assert not train_ids & {p for p, _ in gallery if p > 0}
    for pid, cam in parsed["query"]:  # every query has a true match from another camera
        assert any(g == pid and c != cam for g, c in gallery)


def test_pretrain_and_demo_folders(root: Path) -> None:
    out = _make(root, "demo", limit=5)
    persons = sorted((out / "persons").iterdir())
    assert len(persons) == 5 and len(list((out / "backgrounds").iterdir())) == 5
    sizes = {Image.open(p).size for p in persons}
    assert len(sizes) > 1  # varied sizes and aspects
    assert (out / "contact_sheet.png").is_file()


def test_part_instances_hand_computed() -> None:
    """Person 1 has parts 5 and 13, person 2 part 5: ids 20 (k - 1) + class, as CIHP numbers them."""
    humans = np.array([[1, 1, 0], [2, 2, 0]], np.uint8)
    parsing = np.array([[13, 5, 0], [5, 5, 0]], np.uint8)
    np.testing.assert_array_equal(part_instances(parsing, humans), [[13, 5, 0], [25, 25, 0]])
