"""generate() and the CLI glue: determinism across runs and worker counts, bad input."""

import argparse
from pathlib import Path

import pytest
import scipy.io

from saip.synth import generate, preset_names
from saip.synth.cli import add_arguments, run
from saip.synth.formats.sizes import split_size


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_with_any_worker_count(tmp_path: Path) -> None:
    for preset in ("reid", "attributes", "pose", "mhp"):
        generate(preset, tmp_path / "a" / preset, seed=4, workers=1, limit=2)
        generate(preset, tmp_path / "b" / preset, seed=4, workers=2, limit=2)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) > 20
    assert [k for k in a if a[k] != b[k]] == []


def test_another_seed_gives_other_images(tmp_path: Path) -> None:
    generate("attributes", tmp_path / "a", seed=0, limit=1)
    generate("attributes", tmp_path / "b", seed=1, limit=1)
    assert (tmp_path / "a/data/000001.jpg").read_bytes() != (tmp_path / "b/data/000001.jpg").read_bytes()


def test_presets_listed() -> None:
    assert set(preset_names()) == {
        "reid",
        "attributes",
        "pose",
        "wholebody",
        "parsing",
        "detection",
        "mhp",
        "text",
        "fashion",
        "pretrain",
        "demo",
        "all",
    }


def test_cli_glue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--preset", "demo", "--out", str(tmp_path / "d"), "--limit", "2", "--seed", "3"]
    )
    assert run(args) == 0
    assert len(list((tmp_path / "d" / "persons").iterdir())) == 2
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["--preset", "nope", "--out", "x"])


def test_split_size_scales_then_caps() -> None:
    assert split_size(240) == 240
    assert split_size(240, 10) == 2400
    assert split_size(240, 0.05) == 12
    assert split_size(3, 0.01) == 1  # never an empty split
    assert split_size(240, 10, limit=7) == 7


def test_scale_multiplies_every_split(tmp_path: Path) -> None:
    """PA-100K defaults 240 / 40 / 80, scaled by 0.1; the demo preset 300 persons + 24 backgrounds;
    the CLI passes --scale through, and --limit still caps."""
    generate("attributes", tmp_path / "a", scale=0.1)
    mat = scipy.io.loadmat(tmp_path / "a" / "annotation.mat")
    assert [mat[f"{s}_label"].shape[0] for s in ("train", "val", "test")] == [24, 4, 8]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--preset", "demo", "--out", str(tmp_path / "d"), "--scale", "0.02"])) == 0
    assert len(list((tmp_path / "d" / "persons").iterdir())) == 6
    assert len(list((tmp_path / "d" / "backgrounds").iterdir())) == 1
    generate("demo", tmp_path / "e", scale=2, limit=3)
    assert len(list((tmp_path / "e" / "persons").iterdir())) == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"preset": "nope"},
        {"preset": "reid", "limit": 0},
        {"preset": "reid", "workers": 0},
        {"preset": "reid", "scale": 0},
        {"preset": "reid", "scale": -1.0},
    ],
)
def test_generate_rejects_bad_input(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate(out=tmp_path, **kwargs)
