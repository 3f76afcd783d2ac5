import pytest
import torch

from saip.data.masking import random_grid_mask, resize_grid_mask, visible_indices

ANCHOR, FINE = (16, 8), (20, 10)


def test_random_grid_mask_exact_count_and_uniform_rows() -> None:
    mask = random_grid_mask(64, ANCHOR, 0.75, generator=torch.Generator().manual_seed(0))
    assert mask.dtype == torch.bool and mask.shape == (64, 128)
    assert (mask.sum(dim=1) == 96).all()
    assert len({tuple(row.tolist()) for row in mask}) == 64  # rows differ
    assert random_grid_mask(2, (3, 3), 0.5).sum(dim=1).tolist() == [round(4.5)] * 2
    assert random_grid_mask(2, (3, 3), 0.0).sum() == 0
    assert random_grid_mask(2, (3, 3), 1.0).all()


def test_random_grid_mask_deterministic_with_seed() -> None:
    a = random_grid_mask(4, ANCHOR, 0.75, generator=torch.Generator().manual_seed(7))
    b = random_grid_mask(4, ANCHOR, 0.75, generator=torch.Generator().manual_seed(7))
    c = random_grid_mask(4, ANCHOR, 0.75, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(batch=0), "batch"), (dict(ratio=1.5), "ratio"), (dict(grid=(0, 8)), "grid")],
)
def test_random_grid_mask_bad_input(kwargs: dict, match: str) -> None:
    args = dict(batch=2, grid=ANCHOR, ratio=0.75) | kwargs
    with pytest.raises(ValueError, match=match):
        random_grid_mask(**args)


def centre_source(src: tuple[int, int], dst: tuple[int, int], centre: bool = True) -> torch.Tensor:
    """Flat index of the source cell under each target cell's centre (or top-left corner), [Ht * Wt]."""
    off = 0.5 if centre else 0.0
    rows = ((torch.arange(dst[0]) + off) * src[0] / dst[0]).long()
    cols = ((torch.arange(dst[1]) + off) * src[1] / dst[1]).long()
    return (rows[:, None] * src[1] + cols[None, :]).flatten()


def test_resize_covers_same_image_regions_before_adjustment() -> None:
    # Deterministic mask on (16, 8); num_visible = the visible count of the centre-mapped reference,
    # so a correct resize needs no adjustment and must equal the reference cell by cell.
    rows, cols = torch.meshgrid(torch.arange(16), torch.arange(8), indexing="ij")
    coarse = ((rows // 3 + cols // 2 + rows * cols) % 3 != 0).view(1, -1)
    expected = coarse[:, centre_source(ANCHOR, FINE)]
    top_left = coarse[:, centre_source(ANCHOR, FINE, centre=False)]
    assert not torch.equal(expected, top_left)  # the check can tell centre from corner sampling
    fine = resize_grid_mask(
        coarse, ANCHOR, FINE, int((~expected).sum()), generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(fine, expected)


def test_resize_adjusts_to_exactly_num_visible_with_few_changes() -> None:
    g = torch.Generator().manual_seed(3)
    coarse = random_grid_mask(32, ANCHOR, 0.75, generator=g)
    fine = resize_grid_mask(coarse, ANCHOR, FINE, num_visible=50, generator=g)
    assert fine.shape == (32, 200) and ((~fine).sum(dim=1) == 50).all()
    raw = coarse[:, centre_source(ANCHOR, FINE)]
    changed = (raw != fine).sum(dim=1)
    # The fewest possible cells change: |raw visible - 50| per row, and only in one direction.
    assert torch.equal(changed, ((~raw).sum(dim=1) - 50).abs())
    assert changed.max() < 25
    hidden, revealed = (fine & ~raw).any(dim=1), (~fine & raw).any(dim=1)
    assert not (hidden & revealed).any()


def test_resize_deterministic_with_seed_and_identity_grid() -> None:
    coarse = random_grid_mask(3, ANCHOR, 0.75, generator=torch.Generator().manual_seed(0))
    a = resize_grid_mask(coarse, ANCHOR, FINE, 50, generator=torch.Generator().manual_seed(5))
    b = resize_grid_mask(coarse, ANCHOR, FINE, 50, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert torch.equal(resize_grid_mask(coarse, ANCHOR, ANCHOR, 32), coarse)


def test_resize_bad_input() -> None:
    mask = torch.zeros(2, 128, dtype=torch.bool)
    with pytest.raises(ValueError, match="bool"):
        resize_grid_mask(mask.float(), ANCHOR, FINE, 50)
    with pytest.raises(ValueError, match="16 \\* 8"):
        resize_grid_mask(torch.zeros(2, 100, dtype=torch.bool), ANCHOR, FINE, 50)
    with pytest.raises(ValueError, match="num_visible"):
        resize_grid_mask(mask, ANCHOR, FINE, 201)


def test_visible_indices() -> None:
    mask = torch.tensor([[True, False, True, False], [False, False, True, True]])
    assert visible_indices(mask).tolist() == [[1, 3], [0, 1]]
    with pytest.raises(ValueError, match="different numbers"):
        visible_indices(torch.tensor([[True, False], [False, False]]))
