"""Folders, lists, shards and their errors: every bad name fails before any work starts."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import pytest
import webdataset as wds
from conftest import person_image, write_images
from PIL import Image

from saip.data import DataError
from saip.data.images import load_rgb
from saip.data.sources import (
    FileSource,
    ShardSource,
    SyntheticSource,
    is_shard_spec,
    list_images,
    open_source,
)

DECODE = functools.partial(load_rgb, min_side=8, max_pixels=1_000_000)


def write_shards(folder: Path, shards: int, per_shard: int) -> str:
    """Shards `s-000.tar` .. with `per_shard` samples each (a .json file rides along); returns the brace pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with wds.TarWriter(str(folder / f"s-{s:03d}.tar")) as sink:
            for i in range(per_shard):
                buf = io.BytesIO()
                person_image(100 * s + i).save(buf, format="JPEG")
                sink.write({"__key__": f"{s:03d}_{i:04d}", "jpg": buf.getvalue(), "json": b"{}"})
    return str(folder / f"s-{{000..{shards - 1:03d}}}.tar")


def test_folder_recursive_filtered_sorted(tmp_path: Path) -> None:
    write_images(tmp_path / "b" / "deep", 2, start=0)
    write_images(tmp_path / "a", 1, start=5, suffix=".JPG")
    write_images(tmp_path, 1, start=7, suffix=".webp")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "c.gif").write_bytes(b"GIF89a")
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(str(tmp_path))]
    assert found == ["0007.webp", "a/0005.JPG", "b/deep/0000.png", "b/deep/0001.png"]


def test_list_file_relative_comments_blank(tmp_path: Path) -> None:
    write_images(tmp_path / "imgs", 3)
    listing = tmp_path / "train.txt"
    listing.write_text("# header\nimgs/0002.png\n\n  imgs/0000.png  \n# imgs/0001.png\n")
    assert list_images(str(listing)) == (tmp_path / "imgs/0002.png", tmp_path / "imgs/0000.png")


def test_list_with_missing_files_names_them(tmp_path: Path) -> None:
    write_images(tmp_path, 1)
    listing = tmp_path / "l.txt"
    listing.write_text("0000.png\ngone1.png\ngone2.png\n")
    with pytest.raises(DataError, match=r"2 of 3 files missing, e\.g\. .*gone1\.png"):
        list_images(str(listing))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nowhere", "not found"),
        (lambda p: p, "no images"),
        (lambda p: (p / "empty.txt").write_text("# nothing\n") and p / "empty.txt", "names no files"),
        (lambda p: (p / "x.csv").write_text("a") and p / "x.csv", "must be a folder"),
    ],
)
def test_bad_folder_or_list(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(DataError, match=message):
        open_source([str(make(tmp_path))], DECODE)


def test_combined_sources_concatenate(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 2)
    write_images(tmp_path / "b", 3, start=10)
    (tmp_path / "l.txt").write_text("a/0001.png\n")
    source = open_source([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "l.txt")], DECODE)
    assert isinstance(source, FileSource) and len(source) == 6
    assert source.load(2).image.size == (24, 48)


def test_shard_pattern_expands_and_reads_in_order(tmp_path: Path) -> None:
    pattern = write_shards(tmp_path, shards=3, per_shard=2)
    source = open_source([pattern], DECODE)
    assert isinstance(source, ShardSource)
    assert [Path(u).name for u in source.urls] == ["s-000.tar", "s-001.tar", "s-002.tar"]
    images = [Image.open(io.BytesIO(b)) for b in source.samples(source.urls[1])]
    assert len(images) == 2 and images[0].size == (24, 48)


def test_broken_shard_is_logged_not_fatal(tmp_path: Path) -> None:
    pattern = write_shards(tmp_path, shards=1, per_shard=4)
    shard = tmp_path / "s-000.tar"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    source = open_source([pattern], DECODE)
    assert 0 < len(list(source.samples(source.urls[0]))) < 4


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["{dir}/none-{{000..003}}.tar"], "no shard matched"),
        (["{dir}/s-{{000..002}}.tar"], "1 of 3 files missing"),
        (["{dir}/s-{{000..001}}.tar", "{dir}"], "cannot mix"),
    ],
)
def test_shard_errors(tmp_path: Path, specs: list[str], message: str) -> None:
    write_shards(tmp_path, shards=2, per_shard=1)
    with pytest.raises(DataError, match=message):
        open_source([s.format(dir=tmp_path) for s in specs], DECODE)


def test_shard_spec_detection() -> None:
    assert is_shard_spec("https://host/data-{000..009}.tar")
    assert is_shard_spec("pipe:curl -s http://host/a.tar")
    assert is_shard_spec("/data/one.TAR")
    assert not is_shard_spec("/data/people")
    assert not is_shard_spec("lists/train.txt")


def test_urls_are_not_checked_before_reading() -> None:
    source = open_source(["https://example.invalid/x-{0..1}.tar"], DECODE)
    assert source.urls == ("https://example.invalid/x-0.tar", "https://example.invalid/x-1.tar")


def test_synthetic_source_renders_by_seed() -> None:
    calls: list[tuple[int, tuple[int, int]]] = []

    def render(seed: int, size: tuple[int, int]) -> Image.Image:
        calls.append((seed, size))
        return Image.new("L", size[::-1], seed)

    source = SyntheticSource(5, (32, 16), render)
    out = source.load(3).image
    assert len(source) == 5 and calls == [(3, (32, 16))]
    assert out.mode == "RGB" and out.size == (16, 32) and out.getpixel((0, 0)) == (3, 3, 3)
