"""The pretraining loader: batch layout, determinism across workers, exact resume, rank split, bad images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import webdataset as wds
from conftest import small_config, write_images
from test_sources import write_shards

from saip.data import DataError, build_pretrain_loader

PKU_REID = Path("/work/shared/data/pku-reid/bounding_box_train")


def _batches(cfg, **kw) -> list[dict[str, torch.Tensor]]:
    return list(build_pretrain_loader(cfg, **kw))


def _assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for key in x:
            torch.testing.assert_close(x[key], y[key], rtol=0, atol=0)


def test_batch_layout(image_folder: Path) -> None:
    cfg = small_config(f"data.sources=[{image_folder}]", "train.batch_size=3")
    loader = build_pretrain_loader(cfg)
    assert len(loader) == 4
    batch = next(iter(loader))
    shapes = {k: tuple(v.shape) for k, v in batch.items()}
    assert shapes == {
        "global": (3, 2, 3, 64, 32),
        "local": (3, 3, 3, 32, 16),
        "scene": (3, 3, 64, 64),
        "inst_target": (3, 4, 4),
        "roi_target": (3, 4, 4),
        "index": (3,),
        "num_skipped": (),
    }
    assert batch["index"].dtype == batch["num_skipped"].dtype == torch.long and batch["num_skipped"] == 0
    assert all(
        batch[k].dtype == torch.uint8 for k in ("global", "local", "scene")
    )  # normalised on the device
    for key in ("inst_target", "roi_target"):
        assert set(batch[key].unique().tolist()) == {0.0, 1.0}
        assert (batch[key].flatten(1).sum(1) > 0).all()


def test_same_batches_with_0_and_2_workers(image_folder: Path) -> None:
    cfg = small_config(f"data.sources=[{image_folder}]", "scene.mode=rich")
    _assert_same(
        _batches(cfg),
        _batches(small_config(f"data.sources=[{image_folder}]", "scene.mode=rich", "data.num_workers=2")),
    )


def test_resume_yields_the_remaining_batches(image_folder: Path) -> None:
    cfg = small_config(f"data.sources=[{image_folder}]")
    fresh = _batches(cfg, epoch=1)
    resumed = build_pretrain_loader(cfg, epoch=1, start_batch=4)
    assert len(resumed) == len(fresh) == 6
    _assert_same(list(resumed), fresh[4:])
    assert not torch.equal(fresh[0]["index"], _batches(cfg, epoch=2)[0]["index"])  # order changes per epoch


def test_ranks_take_disjoint_equal_slices(tmp_path: Path) -> None:
    write_images(tmp_path, 13)  # 13 images, 2 ranks, batch 2: 3 batches each, one image dropped
    cfg = small_config(f"data.sources=[{tmp_path}]")
    ranks = [torch.cat([b["index"] for b in _batches(cfg, rank=r, world_size=2)]) for r in range(2)]
    assert [len(r) for r in ranks] == [6, 6]
    assert len(set(ranks[0].tolist()) | set(ranks[1].tolist())) == 12


def test_bad_images_are_counted_and_replaced(image_folder: Path) -> None:
    (image_folder / "zero.jpg").write_bytes(b"")
    (image_folder / "text.png").write_bytes(b"hello")
    (image_folder / "cut.png").write_bytes((image_folder / "0000.png").read_bytes()[:100])
    cfg = small_config(f"data.sources=[{image_folder}]", "train.batch_size=3")
    batches = _batches(cfg)  # 15 files, 5 batches of 3: every file is met at least once
    assert len(batches) == 5 and all(len(b["index"]) == 3 for b in batches)
    assert sum(int(b["num_skipped"]) for b in batches) >= 3


def test_only_bad_images_is_a_clear_error(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"{i}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="unreadable"):
        _batches(small_config(f"data.sources=[{tmp_path}]"))


@pytest.mark.parametrize(
    ("overrides", "kw", "error", "message"),
    [
        (["train.batch_size=7"], {"world_size": 2}, DataError, "no full batch"),
        ([], {"start_batch": 7}, ValueError, "start_batch"),
        ([], {"rank": 2, "world_size": 2}, ValueError, "rank"),
        (["data.backgrounds=[/no/such/folder]"], {}, DataError, "not found"),
    ],
)
def test_bad_arguments(image_folder: Path, overrides, kw, error, message: str) -> None:
    with pytest.raises(error, match=message):
        build_pretrain_loader(small_config(f"data.sources=[{image_folder}]", *overrides), **kw)


def test_backgrounds_from_their_own_folder(image_folder: Path, tmp_path: Path) -> None:
    write_images(tmp_path / "bg", 2, start=50)
    cfg = small_config(f"data.sources=[{image_folder}]", f"data.backgrounds=[{tmp_path / 'bg'}]")
    assert not torch.equal(
        _batches(cfg)[0]["scene"], _batches(small_config(f"data.sources=[{image_folder}]"))[0]["scene"]
    )


def test_local_shards_without_index_are_counted(tmp_path: Path) -> None:
    # 2 shards x 2 samples, each a .jpg with a .json riding along: 4 samples, not 8 files.
    cfg = small_config(f"data.sources=['{write_shards(tmp_path, 2, 2)}']")
    assert len(build_pretrain_loader(cfg)) == 2


@pytest.mark.parametrize("workers", [0, 2])
def test_shards_resume_and_split(tmp_path: Path, workers: int) -> None:
    pattern = write_shards(tmp_path, shards=4, per_shard=3)
    cfg = small_config(f"data.sources=['{pattern}']", "data.epoch_size=10", f"data.num_workers={workers}")
    fresh = _batches(cfg, epoch=3)
    assert len(fresh) == 5 and all(len(b["index"]) == 2 for b in fresh)
    _assert_same(_batches(cfg, epoch=3, start_batch=3), fresh[3:])
    ranks = [_batches(cfg, rank=r, world_size=2) for r in range(2)]
    assert [len(r) for r in ranks] == [2, 2]
    assert not torch.equal(ranks[0][0]["global"], ranks[1][0]["global"])


def test_too_few_shards_for_workers(tmp_path: Path) -> None:
    cfg = small_config(
        f"data.sources=['{write_shards(tmp_path, 1, 4)}']", "data.epoch_size=4", "data.num_workers=2"
    )
    with pytest.raises(DataError, match="cannot feed"):
        build_pretrain_loader(cfg)


@pytest.mark.data
@pytest.mark.skipif(not PKU_REID.is_dir(), reason="pku-reid not present")
def test_real_reid_folder() -> None:
    cfg = small_config(f"data.sources=[{PKU_REID}]", "train.batch_size=4")
    loader = build_pretrain_loader(cfg)
    batch = next(iter(loader))
    assert len(loader) == len(list(PKU_REID.glob("*.jpg"))) // 4
    assert batch["global"].shape == (4, 2, 3, 64, 32) and batch["num_skipped"] == 0


def test_builtin_synthetic_people_when_no_source() -> None:
    cfg = small_config("data.synthetic_images=5", "scene.mode=rich")
    loader = build_pretrain_loader(cfg)
    batches = list(loader)
    assert len(loader) == len(batches) == 2  # 5 images, batch 2: the odd one is dropped
    assert batches[0]["scene"].shape == (2, 3, 64, 64) and batches[0]["num_skipped"] == 0
    _assert_same(batches, _batches(cfg))


def test_unreadable_shard_sample_is_dropped_and_counted(tmp_path: Path) -> None:
    pattern = write_shards(tmp_path, shards=1, per_shard=3)
    with wds.TarWriter(str(tmp_path / "s-001.tar")) as sink:
        sink.write({"__key__": "bad", "jpg": b"junk"})
    cfg = small_config(f"data.sources=['{pattern.replace('000}', '001}')}']", "data.epoch_size=4")
    batches = _batches(cfg)
    assert [len(b["index"]) for b in batches] == [2, 1] or [len(b["index"]) for b in batches] == [1, 2]
    assert sum(int(b["num_skipped"]) for b in batches) == 1


def test_loading_leaves_the_callers_torch_rng_alone(image_folder: Path) -> None:
    loader = build_pretrain_loader(small_config(f"data.sources=[{image_folder}]"))
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    next(iter(loader))
    torch.testing.assert_close(torch.rand(3), expected)


def test_mix_synthetic_adds_people_to_real_sources(image_folder: Path) -> None:
    from saip.data.images import load_rgb
    from saip.data.pipeline import open_sources
    from saip.data.sources import ConcatSource

    real = len(list(image_folder.iterdir()))
    cfg = small_config(f"data.sources=[{image_folder}]", "data.mix_synthetic=5")
    people, _ = open_sources(cfg, lambda path: load_rgb(path, min_side=1, max_pixels=10**8))
    assert isinstance(people, ConcatSource) and len(people) == real + 5
    assert people.load(0).image.size == (24, 48)  # a file of the folder
    assert people.load(real).image.size == (32, 64)  # a synthetic person at data.synthetic_size
    with pytest.raises(IndexError):
        people.load(real + 5)
    assert len(build_pretrain_loader(cfg)) == (real + 5) // 2
