"""`saip data pack` and the shard index: bad images skipped and counted, exact counts, epoch lengths."""

from __future__ import annotations

import functools
import http.server
import json
import logging
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saip.cli import main
from saip.data import DataError, build_pretrain_loader, load_rgb, shard_index
from saip.data.pack import pack
from saip.data.sources import ShardSource

GOOD = 7  # readable images in the folder; shard size 3 gives shards of 3, 3 and 1


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """7 readable people (png and jpg, nested) and 3 that training skips: corrupt, zero-byte, tiny."""
    root = tmp_path / "people"
    (root / "cam1").mkdir(parents=True)
    for i in range(GOOD):
        pixels = np.random.default_rng(i).integers(0, 256, (40, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / ("cam1" if i % 2 else ".") / f"{i}.{'png' if i % 3 else 'jpg'}")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "empty.png").write_bytes(b"")
    Image.new("RGB", (8, 8)).save(root / "tiny.png")
    return root


@pytest.fixture
def packed(folder: Path, tmp_path: Path) -> Path:
    """The folder packed into tmp_path/shards; returns the shard pattern."""
    return Path(pack(str(folder), tmp_path / "shards", shard_size=3).pattern)


def _shards(pattern: Path) -> list[Path]:
    return sorted(pattern.parent.glob("shard-*.tar"))


def test_pack_skips_and_counts_what_training_skips(folder: Path, tmp_path: Path) -> None:
    result = pack(str(folder), tmp_path / "out", shard_size=3)
    assert (result.images, result.shards) == (GOOD, 3)
    assert result.skipped == {"unreadable": 1, "empty": 1, "tiny": 1}
    assert result.pattern == str(tmp_path / "out" / "shard-{000000..000002}.tar")
    index = json.loads(result.index.read_text())
    assert [(s["name"], s["samples"]) for s in index["shards"]] == [
        ("shard-000000.tar", 3),
        ("shard-000001.tar", 3),
        ("shard-000002.tar", 1),
    ]
    assert index["total"] == GOOD and index["skipped"] == {"empty": 1, "tiny": 1, "unreadable": 1}
    shards = _shards(Path(result.pattern))
    assert [shard_index.count_samples(p) for p in shards] == [3, 3, 1]
    # The shards hold the original files' bytes, each once, and every one decodes.
    source = ShardSource(tuple(map(str, shards)), functools.partial(load_rgb, min_side=16, max_pixels=10**6))
    read = [data for url in source.urls for data in source.samples(url)]
    good = [p for p in folder.rglob("*") if p.is_file() and p.stem.isdigit()]
    assert sorted(read) == sorted(p.read_bytes() for p in good)
    assert all(source.decode(data).image is not None for data in read)


def test_pack_order_is_seeded(folder: Path, tmp_path: Path) -> None:
    def order(out: str, **kw) -> list[str]:
        pattern = pack(str(folder), tmp_path / out, shard_size=3, **kw).pattern
        return [n for p in _shards(Path(pattern)) for n in _names(p)]

    seeded = order("a")
    assert seeded == order("b") != order("c", seed=1)
    assert order("d", seed=None) == sorted(seeded)


def _names(shard: Path) -> list[str]:
    with tarfile.open(shard) as tar:
        return [tar.extractfile(m).read().decode() for m in tar if m.name.endswith(".path.txt")]


def test_loader_takes_the_epoch_length_from_the_index(packed: Path, make_config: Callable) -> None:
    cfg = make_config(f"data.sources=['{packed}']")
    assert len(build_pretrain_loader(cfg)) == GOOD // 2
    assert len(build_pretrain_loader(cfg, rank=1, world_size=2)) == GOOD // 2 // 2
    assert len(build_pretrain_loader(make_config(f"data.sources=['{packed}']", "data.epoch_size=4"))) == 2
    first = str(packed).replace("{000000..000002}", "000000")  # a subset of the shards: its own count
    assert len(build_pretrain_loader(make_config(f"data.sources=['{first}']"))) == 3 // 2


def test_unindexed_local_shards_are_counted_once(
    packed: Path, make_config: Callable, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    index = packed.parent / "index.json"
    index.unlink()
    cfg = make_config(f"data.sources=['{packed}']")
    with caplog.at_level(logging.INFO, logger="saip.data.shard_index"):
        assert len(build_pretrain_loader(cfg)) == GOOD // 2
    assert [s["samples"] for s in json.loads(index.read_text())["shards"]] == [3, 3, 1]  # the sidecar
    assert "counting" in caplog.text

    # A read-only folder keeps the counts in memory: the next epoch counts nothing.
    index.unlink()

    def read_only(*args, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shard_index, "write_index", read_only)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="saip.data.shard_index"):
        assert shard_index.shard_images([str(p) for p in _shards(packed)]) == GOOD
    assert "memory" in caplog.text and not index.exists()
    monkeypatch.setattr(shard_index, "count_samples", lambda path: pytest.fail(f"counted {path} again"))
    assert shard_index.shard_images([str(p) for p in _shards(packed)]) == GOOD


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local http server on tmp_path/www: (its base URL, the folder it serves)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", www
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_remote_shards_use_an_index_or_ask_for_epoch_size(
    packed: Path, http_root: tuple[str, Path], make_config: Callable
) -> None:
    base, www = http_root
    for shard in _shards(packed):
        (www / shard.name).write_bytes(shard.read_bytes())
    remote = f"{base}/shard-{{000000..000002}}.tar"
    with pytest.raises(DataError, match=r"need data\.epoch_size") as err:
        build_pretrain_loader(make_config(f"data.sources=['{remote}']"))
    assert "\n" not in str(err.value)
    (www / "index.json").write_bytes((packed.parent / "index.json").read_bytes())
    loader = build_pretrain_loader(make_config(f"data.sources=['{remote}']"))
    assert len(loader) == GOOD // 2 and next(iter(loader))["global"].shape[0] == 2

    piped = f"pipe:cat {packed}"  # no index is read through pipe:
    with pytest.raises(DataError, match=r"need data\.epoch_size"):
        build_pretrain_loader(make_config(f"data.sources=['{piped}']"))
    assert len(build_pretrain_loader(make_config(f"data.sources=['{piped}']", "data.epoch_size=6"))) == 3


def test_cli_pack_and_its_errors(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "cli"
    assert main(["data", "pack", str(folder), "--out", str(out), "--shard-size", "4", "--workers", "2"]) == 0
    assert f"--data '{out}/shard-{{000000..000001}}.tar'" in capsys.readouterr().out
    assert json.loads((out / "index.json").read_text())["total"] == GOOD
    assert main(["data", "pack", str(folder), "--out", str(out), "--shard-size", "4"]) == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"junk")
    assert main(["data", "pack", str(bad), "--out", str(tmp_path / "none"), "--shard-size", "4"]) == 2
    assert main(["data", "pack", str(folder), "--out", str(tmp_path / "p"), "--pattern", "x.tar"]) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert ["already holds shards" in errors[0], "no readable image" in errors[1], "%0Nd" in errors[2]] == [
        True
    ] * 3
    assert not list((tmp_path / "none").iterdir())  # no empty shard is left behind
