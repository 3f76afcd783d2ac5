"""render_person / render_background: the contract the pretraining data pipeline relies on."""

import numpy as np
import pytest
from PIL import Image

from saip.synth import render_background, render_person


def test_render_person_size_mode_and_determinism() -> None:
    image = render_person(7, (64, 32))
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    assert image.size == (32, 64)  # PIL reports (W, H)
    assert np.array_equal(np.asarray(image), np.asarray(render_person(7, (64, 32))))
    assert not np.array_equal(np.asarray(image), np.asarray(render_person(8, (64, 32))))


def test_render_person_ignores_global_rng_state() -> None:
    np.random.seed(0)
    a = np.asarray(render_person(3, (64, 32)))
    np.random.seed(1)
    np.random.rand(10)
    assert np.array_equal(a, np.asarray(render_person(3, (64, 32))))


def test_render_background_size_and_determinism() -> None:
    a = render_background(5, (48, 80))
    assert a.size == (80, 48) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(render_background(5, (48, 80))))


@pytest.mark.parametrize("size", [(8, 8), (0, 64), (256, 4)])
def test_render_person_rejects_tiny_sizes(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        render_person(0, size)


def test_render_background_rejects_tiny_sizes() -> None:
    with pytest.raises(ValueError):
        render_background(0, (4, 64))
