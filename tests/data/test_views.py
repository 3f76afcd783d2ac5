"""Multi-crop views: shapes from the config, uint8 out of the worker, ImageNet normalisation on the
device, the half-size copy of view 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import person_image, small_config
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from saip.data.views import (
    MultiCropViews,
    band_matte,
    half_view,
    normalize_views,
    swap_background,
)


def test_shapes_follow_config() -> None:
    cfg = small_config("views.global_size=[48,16]", "views.local_size=[32,16]", "views.num_local=4")
    torch.manual_seed(0)
    views = MultiCropViews(cfg.views)(person_image(0, (80, 40)))
    assert views["global"].shape == (2, 3, 48, 16)
    assert views["local"].shape == (4, 3, 32, 16)
    assert set(views) == {"global", "local"}
    assert all(v.dtype == torch.uint8 for v in views.values())


def test_normalize_matches_imagenet_stats() -> None:
    out = normalize_views(torch.tensor([0, 51, 255], dtype=torch.uint8).view(3, 1, 1).expand(3, 3, 2))
    assert out.shape == (3, 3, 2) and out.dtype == torch.float32
    expected = [
        (v / 255 - m) / s
        for v, m, s in zip((0, 51, 255), IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, strict=True)
    ]
    torch.testing.assert_close(out[:, 0, 0], torch.tensor(expected))


def test_black_image_survives_every_augmentation_as_zero() -> None:
    # Jitter, grayscale, blur and solarisation (threshold 128) all keep black pixels black.
    torch.manual_seed(1)
    views = MultiCropViews(small_config().views)(Image.new("RGB", (40, 80)))
    black = (-torch.tensor(IMAGENET_DEFAULT_MEAN) / torch.tensor(IMAGENET_DEFAULT_STD)).view(3, 1, 1)
    for key in ("global", "local"):
        assert not views[key].any()
        torch.testing.assert_close(normalize_views(views[key]), black.expand(views[key].shape))


def test_uint8_view_is_the_float_view_within_half_a_level() -> None:
    """Quantising after the colour operations moves no pixel by more than 0.5/255."""
    view = MultiCropViews(small_config().views).global1
    for seed in range(3):
        torch.manual_seed(seed)
        exact = view(person_image(seed, (96, 48)))
        torch.manual_seed(seed)
        shipped = MultiCropViews(small_config().views)(person_image(seed, (96, 48)))["global"][0]
        assert 0 <= exact.min() and exact.max() <= 1
        assert (shipped.float() / 255 - exact).abs().max() <= 0.5 / 255 + 1e-6


def test_half_view_is_view_1_downscaled_within_one_level() -> None:
    """The device's half view from uint8 global view 1 against the float view it replaced."""
    view = MultiCropViews(small_config().views).global1
    torch.manual_seed(2)
    exact = view(person_image(3, (96, 48)))  # float 0..1, before quantising
    expected = F.interpolate(exact[None], size=(32, 16), mode="bilinear", antialias=True)[0]
    torch.manual_seed(2)
    shipped = MultiCropViews(small_config().views)(person_image(3, (96, 48)))["global"][:1]
    half = half_view(shipped)[0] / 255
    assert half.shape == (3, 32, 16)
    assert (half - expected).abs().max() <= 1 / 255


def test_same_seed_same_views_different_seed_different() -> None:
    views, img = MultiCropViews(small_config().views), person_image(4, (96, 48))
    torch.manual_seed(5)
    a = views(img)
    torch.manual_seed(5)
    b = views(img)
    torch.manual_seed(6)
    c = views(img)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a["global"], c["global"])
    assert not torch.equal(a["local"][0], a["local"][1])


def test_needs_a_local_crop() -> None:
    with pytest.raises(ValueError, match="num_local"):
        MultiCropViews(small_config("views.num_local=0").views)


def test_background_swap_keeps_the_person_band() -> None:
    matte = np.asarray(band_matte((40, 10), 0.22), dtype=np.float64) / 255
    assert matte.shape == (10, 40) and (matte == matte[:1]).all()  # the same in every row
    assert matte[0, 19] > 0.99 and matte[0, 0] < 0.01  # centre kept, sides replaced
    person = Image.new("RGB", (40, 10), (200, 0, 0))
    backdrop = Image.new("RGB", (80, 20), (0, 0, 200))
    out = np.asarray(swap_background(person, backdrop, 0.22))
    assert tuple(out[5, 19]) == (200, 0, 0) and tuple(out[5, 0]) == (0, 0, 200)
