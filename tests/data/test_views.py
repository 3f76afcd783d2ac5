"""Multi-crop views: shapes from the config, ImageNet normalisation, the half-size copy of view 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import person_image, small_config
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from saip.data.views import MultiCropViews, band_matte, swap_background, to_normalized


def test_shapes_follow_config() -> None:
    cfg = small_config("views.global_size=[48,16]", "views.local_size=[32,16]", "views.num_local=4")
    torch.manual_seed(0)
    views = MultiCropViews(cfg.views)(person_image(0, (80, 40)))
    assert views["global"].shape == (2, 3, 48, 16)
    assert views["local"].shape == (4, 3, 32, 16)
    assert views["half"].shape == (3, 24, 8)
    assert all(v.dtype == torch.float32 for v in views.values())


def test_normalize_matches_imagenet_stats() -> None:
    out = to_normalized(Image.new("RGB", (2, 3), (0, 51, 255)))
    assert out.shape == (3, 3, 2)
    expected = [
        (v / 255 - m) / s
        for v, m, s in zip((0, 51, 255), IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, strict=True)
    ]
    torch.testing.assert_close(out[:, 0, 0], torch.tensor(expected))


def test_black_image_survives_every_augmentation_as_normalised_zero() -> None:
    # Jitter, grayscale, blur and solarisation (threshold 128) all keep black pixels black.
    torch.manual_seed(1)
    views = MultiCropViews(small_config().views)(Image.new("RGB", (40, 80)))
    black = (-torch.tensor(IMAGENET_DEFAULT_MEAN) / torch.tensor(IMAGENET_DEFAULT_STD)).view(3, 1, 1)
    for key in ("global", "local", "half"):
        torch.testing.assert_close(views[key], black.expand_as(views[key]))


def test_half_is_global_view_1_downscaled() -> None:
    torch.manual_seed(2)
    views = MultiCropViews(small_config().views)(person_image(3, (96, 48)))
    expected = F.interpolate(views["global"][:1], size=(32, 16), mode="bilinear", antialias=True)[0]
    torch.testing.assert_close(views["half"], expected)


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
