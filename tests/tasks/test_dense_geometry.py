"""Heatmap codec, crop geometry and the flip test: exact inverses of each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from saip.tasks.dense.affine import apply_points, box_to_region, invert, region_matrix, warp_back, warp_image
from saip.tasks.dense.flip import flip_back, flip_test, swap_index
from saip.tasks.dense.heatmap import decode, encode
from saip.tasks.dense.keypoints import COCO_WHOLEBODY
from saip.tasks.dense.lip import LIP_PAIRS


def test_encode_decode_round_trip() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform([10, 10], [181, 245], (17, 2))  # (x, y) inside a 256x192 input
    visible = np.full(17, 2.0)
    visible[3] = 0
    heatmaps, weight = encode(points, visible, (256, 192), (64, 48))
    assert heatmaps.shape == (17, 64, 48) and weight.tolist() == [1.0] * 3 + [0.0] + [1.0] * 13
    assert heatmaps[3].max() == 0.0
    decoded, scores = decode(torch.from_numpy(heatmaps)[None], (256, 192))
    error = (decoded[0] - torch.from_numpy(points)).abs().amax(1)
    inner = torch.from_numpy(((points > 24) & (points < [192 - 24, 256 - 24])).all(1) & (weight > 0))
    assert error[weight > 0].max() < 0.5  # sub-pixel at 1/4 resolution thanks to DARK
    assert error[inner].max() < 0.01  # exact away from the border, where the blur cuts no tail
    assert scores[0, weight > 0].min() > 0.9
    plain, _ = decode(torch.from_numpy(heatmaps)[None], (256, 192), blur_kernel=0)
    assert (plain[0] - torch.from_numpy(points)).abs()[weight > 0].max() <= 4 * 0.5 * 255 / 63 + 1e-6


def test_points_outside_get_no_weight() -> None:
    _, weight = encode(
        np.array([[-50.0, 10.0], [10.0, 400.0], [5.0, 5.0]]), np.full(3, 2.0), (64, 48), (16, 12)
    )
    assert weight.tolist() == [0.0, 0.0, 1.0]


def test_region_matrix_centres_and_inverts() -> None:
    center, size = box_to_region((10.0, 20.0, 30.0, 100.0), (256, 192))
    assert size[0] / size[1] == pytest.approx(192 / 256) and size[1] == pytest.approx(125.0)
    m = region_matrix(center, size, (256, 192), rotation=30.0, flip=True)
    assert apply_points(m, center) == pytest.approx([95.5, 127.5])
    p = np.array([[12.0, 34.0], [56.0, 78.0]])
    assert apply_points(invert(m), apply_points(m, p)) == pytest.approx(p)


def test_warp_image_follows_the_points() -> None:
    image = np.zeros((60, 80, 3), dtype=np.uint8)
    image[17, 23] = 255  # (x, y) = (23, 17)
    m = region_matrix(np.array([30.0, 25.0]), np.array([24.0, 32.0]), (64, 48), flip=True)
    crop = np.asarray(warp_image(Image.fromarray(image), m, (64, 48), nearest=True))
    y, x = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    assert apply_points(m, np.array([23.0, 17.0])) == pytest.approx([x, y], abs=1.0)


def test_warp_back_undoes_the_crop() -> None:
    labels = torch.arange(30 * 20, dtype=torch.float32).reshape(1, 30, 20)
    m = region_matrix(*box_to_region((-0.5, -0.5, 20.0, 30.0), (30, 20), padding=1.0), (30, 20))
    assert torch.allclose(warp_back(labels, m, (30, 20)), labels, atol=1e-3)


@pytest.mark.parametrize(
    "index", [COCO_WHOLEBODY.flip_index(), swap_index(20, LIP_PAIRS)], ids=["wholebody-points", "lip-parts"]
)
def test_flip_test_is_mirror_symmetric(index: np.ndarray) -> None:
    """For any network, flip-testing the mirrored image gives the mirrored flip-tested output with
    left/right channels swapped: no side is favoured."""
    torch.manual_seed(0)
    net = nn.Conv2d(3, len(index), 3, padding=1)
    x = torch.randn(2, 3, 16, 12)
    with torch.no_grad():
        plain = flip_test(net, x, index)
        mirrored = flip_test(net, x.flip(-1), index)
    assert torch.allclose(mirrored, flip_back(plain, index), atol=1e-6)
    assert not torch.allclose(plain, flip_back(plain, index), atol=1e-3)  # the net itself is not symmetric
