"""Fast colour jitter and blur: checked against torchvision and against their defining properties."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from saip.data.photometric import ColorJitter, GaussianBlur, gaussian_blur, rotate_hue

LUMA = torch.tensor([0.299, 0.587, 0.114])


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


def test_hue_rotation_identity_inverse_and_luma() -> None:
    img = 0.3 + 0.4 * torch.rand(
        3, 5, 4, generator=torch.Generator().manual_seed(1)
    )  # mid colours: no clipping
    torch.testing.assert_close(rotate_hue(img, 0.0), img)
    shifted = rotate_hue(img, 0.08)
    assert not torch.allclose(shifted, img)
    torch.testing.assert_close(rotate_hue(shifted, -0.08), img, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.einsum("c,chw->hw", LUMA, shifted), torch.einsum("c,chw->hw", LUMA, img))
    gray = torch.full((3, 2, 2), 0.5)
    torch.testing.assert_close(rotate_hue(gray, 0.3), gray)  # no chroma, nothing to rotate


def test_jitter_zero_strength_is_identity_and_seeded() -> None:
    img = torch.rand(3, 6, 4, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(ColorJitter(0, 0, 0, 0)(img), img)
    jitter = ColorJitter(0.4, 0.4, 0.2, 0.1)
    torch.manual_seed(3)
    a = jitter(img)
    torch.manual_seed(3)
    torch.testing.assert_close(jitter(img), a)
    assert not torch.allclose(a, img) and a.min() >= 0 and a.max() <= 1
