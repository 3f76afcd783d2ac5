"""Fast colour jitter and blur: checked against torchvision and against their defining properties."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from saip.data.photometric import ColorJitter, GaussianBlur, chroma_map, gaussian_blur

LUMA = torch.tensor([0.299, 0.587, 0.114])


def mid_colours() -> torch.Tensor:
    """Colours in [0.35, 0.65]: no jitter below pushes them out of [0, 1], so clipping never acts."""
    return 0.35 + 0.3 * torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("sigma", [0.1, 0.7, 2.0])
def test_blur_matches_torchvision_2d_kernel(sigma: float) -> None:
    img = torch.rand(3, 20, 12, generator=torch.Generator().manual_seed(0))
    radius = max(1, -(-3 * sigma // 1))
    size = int(2 * radius + 1)
    expected = TF.gaussian_blur(img, kernel_size=[size, size], sigma=[sigma, sigma])
    torch.testing.assert_close(gaussian_blur(img, sigma), expected, atol=1e-5, rtol=0)


def test_blur_keeps_constant_image_and_small_images_work() -> None:
    flat = torch.full((3, 4, 3), 0.25)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)  # radius capped below the image side
    torch.manual_seed(0)
    assert GaussianBlur((0.1, 2.0))(torch.rand(3, 8, 8)).shape == (3, 8, 8)


def test_chroma_map_keeps_luma_and_grey_and_inverts() -> None:
    torch.testing.assert_close(chroma_map(1.0, 0.0), torch.eye(3))
    m = chroma_map(1.3, 0.08)
    torch.testing.assert_close(LUMA @ m, LUMA, atol=1e-4, rtol=0)  # luma of the output = luma of the input
    torch.testing.assert_close(m @ torch.ones(3), torch.ones(3))  # grey stays grey
    torch.testing.assert_close(chroma_map(1 / 1.3, -0.08) @ m, torch.eye(3), atol=1e-5, rtol=0)
    assert not torch.allclose(m, torch.eye(3))


def test_saturation_matches_torchvision() -> None:
    img = mid_colours()
    out = torch.einsum("ij,jhw->ihw", chroma_map(0.7, 0.0), img)
    torch.testing.assert_close(out, TF.adjust_saturation(img, 0.7), atol=1e-3, rtol=0)


def test_jitter_equals_torchvision_ops_in_any_order_without_clipping(monkeypatch: pytest.MonkeyPatch) -> None:
    img = mid_colours()
    factors = iter([1.1, 0.8, 1.2, 0.0])  # brightness, contrast, saturation, hue: no value leaves [0, 1]
    monkeypatch.setattr("saip.data.photometric._uniform", lambda low, high: next(factors))
    out = ColorJitter(0.4, 0.4, 0.2, 0.1)(img)
    ops = [
        lambda x: TF.adjust_brightness(x, 1.1),
        lambda x: TF.adjust_contrast(x, 0.8),
        lambda x: TF.adjust_saturation(x, 1.2),
    ]
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        expected = img
        for i in order:
            expected = ops[i](expected)
        torch.testing.assert_close(out, expected, atol=2e-3, rtol=0)


def test_jitter_zero_strength_is_identity_and_seeded() -> None:
    img = torch.rand(3, 6, 4, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(ColorJitter(0, 0, 0, 0)(img), img)
    jitter = ColorJitter(0.4, 0.4, 0.2, 0.1)
    torch.manual_seed(3)
    a = jitter(img)
    torch.manual_seed(3)
    torch.testing.assert_close(jitter(img), a)
    assert not torch.allclose(a, img) and a.min() >= 0 and a.max() <= 1


def test_channel_gain_is_a_white_balance() -> None:
    torch.manual_seed(0)
    img = torch.rand(3, 8, 6) * 0.5 + 0.1
    out = ColorJitter(0.0, 0.0, 0.0, 0.0, channel_gain=0.3)(img)
    ratio = out / img  # one gain per channel, everywhere
    gains = ratio.flatten(1).mean(1)
    torch.testing.assert_close(ratio, gains[:, None, None].expand_as(ratio))
    assert ((gains >= 0.7) & (gains <= 1.3)).all() and not torch.allclose(gains, gains[0])
