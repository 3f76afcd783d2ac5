import pytest
import torch

from saip.objectives.csr import CSRLoss, patchify, unpatchify

# One channel, (H, W) = (2, 4), p = 2: patch 0 is [[0, 1], [2, 3]], patch 1 is [[4, 5], [6, 7]].
TWO_PATCHES = torch.tensor([[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0]]).view(1, 1, 2, 4)


def test_patchify_layout_hand_checked() -> None:
    assert patchify(TWO_PATCHES, 2).tolist() == [[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]]


def test_patchify_non_square_matches_loop_and_round_trips() -> None:
    images = torch.randn(2, 3, 8, 4)
    patches = patchify(images, 2)
    assert patches.shape == (2, 4 * 2, 2 * 2 * 3)
    for i in range(4):
        for j in range(2):
            cell = images[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]  # [B, C, p, p]
            torch.testing.assert_close(patches[:, i * 2 + j], cell.permute(0, 2, 3, 1).reshape(2, -1))
    torch.testing.assert_close(unpatchify(patches, (4, 2), 2, 3), images)


def test_patchify_bad_input() -> None:
    with pytest.raises(ValueError, match="multiple of the patch size"):
        patchify(torch.zeros(1, 3, 30, 16), 16)
    with pytest.raises(ValueError, match="B, C, H, W"):
        patchify(torch.zeros(3, 32, 16), 16)
    with pytest.raises(ValueError, match="patches must be"):
        unpatchify(torch.zeros(1, 8, 12), (4, 3), 2, 3)


def test_csr_loss_hand_computed_two_patches() -> None:
    pred = torch.zeros(1, 2, 4)
    raw = CSRLoss(patch_size=2, norm_pix=False)
    assert raw(pred, TWO_PATCHES, torch.tensor([[True, False]])).item() == pytest.approx((0 + 1 + 4 + 9) / 4)
    both = ((0 + 1 + 4 + 9) / 4 + (16 + 25 + 36 + 49) / 4) / 2
    assert raw(pred, TWO_PATCHES, torch.tensor([[True, True]])).item() == pytest.approx(both)
    # Normalised target of [0, 1, 2, 3]: (x - 1.5) / sqrt(5/3) (unbiased variance); its mean square is 3/4.
    norm = CSRLoss(patch_size=2, norm_pix=True)
    assert norm(pred, TWO_PATCHES, torch.tensor([[True, False]])).item() == pytest.approx(0.75, rel=1e-5)
    exact = torch.tensor([[-1.5, -0.5, 0.5, 1.5], [0.0, 0.0, 0.0, 0.0]]).unsqueeze(0) / (5 / 3) ** 0.5
    assert norm(exact, TWO_PATCHES, torch.tensor([[True, False]])).item() == pytest.approx(0.0, abs=1e-6)


def test_csr_loss_ignores_visible_patches_and_grads_only_masked() -> None:
    images = torch.randn(2, 3, 64, 32)
    mask = torch.rand(2, 8) > 0.5
    mask[:, 0] = True
    mask[:, 1] = False
    pred = torch.randn(2, 8, 16 * 16 * 3, requires_grad=True)
    loss_fn = CSRLoss(patch_size=16)
    loss = loss_fn(pred, images, mask)
    changed = pred.detach().clone()
    changed[~mask] = float("nan")
    assert loss_fn(changed, images, mask).item() == pytest.approx(loss.item())
    loss.backward()
    assert (pred.grad[~mask] == 0).all() and (pred.grad[mask].abs().sum(dim=-1) > 0).all()


def test_csr_loss_bf16_prediction_float32_loss() -> None:
    loss = CSRLoss(patch_size=16)(
        torch.randn(1, 2, 768).bfloat16(), torch.randn(1, 3, 32, 16), torch.tensor([[True, False]])
    )
    assert loss.dtype == torch.float32


def test_csr_loss_bad_input() -> None:
    loss_fn = CSRLoss(patch_size=2)
    pred, mask = torch.zeros(1, 2, 4), torch.tensor([[True, False]])
    with pytest.raises(ValueError, match="pred must be"):
        loss_fn(torch.zeros(1, 3, 4), TWO_PATCHES, mask)
    with pytest.raises(ValueError, match="mask must be bool"):
        loss_fn(pred, TWO_PATCHES, mask.float())
    with pytest.raises(ValueError, match="no masked patch"):
        loss_fn(pred, TWO_PATCHES, torch.zeros(1, 2, dtype=torch.bool))
