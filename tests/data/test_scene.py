"""CSS scenes: hand-placed rectangles give exact cell targets; pastes stay inside and apart; occlusion hides cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import small_config
from PIL import Image

from saip.data.scene import Paste, SceneBuilder, cell_targets, compose

SIZE = (64, 64)  # a 4 x 4 grid of 16-px cells


def _mask(rows: slice, cols: slice) -> torch.Tensor:
    mask = torch.zeros(SIZE, dtype=torch.bool)
    mask[rows, cols] = True
    return mask


def test_half_covered_cell_is_positive_49_percent_is_not() -> None:
    half = _mask(slice(0, 16), slice(0, 8))  # 128 of 256 pixels
    assert cell_targets(half, 16, 0.5)[0, 0] == 1
    almost = half.clone()
    almost[15, 5:8] = False  # 125 of 256 pixels: 48.8 %
    assert cell_targets(almost, 16, 0.5)[0, 0] == 0
    assert cell_targets(almost, 16, 0.5).sum() == 0


def test_offset_rectangle_hand_computed() -> None:
    # Rows 8..39, cols 8..23: cells (1, 0) and (1, 1) are half covered, every other touched cell a quarter.
    target = cell_targets(_mask(slice(8, 40), slice(8, 24)), 16, 0.5)
    expected = torch.zeros(4, 4)
    expected[1, 0] = expected[1, 1] = 1
    torch.testing.assert_close(target, expected)
    assert cell_targets(_mask(slice(8, 40), slice(8, 24)), 16, 0.25).sum() == 6


def test_compose_blends_and_later_pastes_hide_earlier() -> None:
    below = Paste(torch.ones(3, 32, 32), 0, 0)
    above = Paste(torch.full((3, 16, 16), 2.0), 16, 16)
    scene, (vis_below, vis_above) = compose(torch.zeros(3, *SIZE), [below, above], alpha=0.7)
    torch.testing.assert_close(scene[:, 0, 0], torch.full((3,), 0.7))
    torch.testing.assert_close(scene[:, 20, 20], torch.full((3,), 0.7 * 2 + 0.3 * 0.7))
    torch.testing.assert_close(scene[:, 40, 40], torch.zeros(3))
    assert vis_above.sum() == 256 and vis_below.sum() == 32 * 32 - 16 * 16
    expected = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.float32)
    torch.testing.assert_close(cell_targets(vis_below, 16, 0.5), expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: compose(torch.zeros(3, *SIZE), [Paste(torch.ones(3, 16, 16), 56, 0)], 0.7),
            "leaves the scene",
        ),
        (lambda: cell_targets(torch.zeros(60, 64, dtype=torch.bool), 16, 0.5), "multiple of the cell"),
        (lambda: SceneBuilder(small_config("scene.mode=fancy").scene, (32, 16), (32, 16)), "recipe"),
        (lambda: SceneBuilder(small_config().scene, (32, 40), (32, 32)), "do not fit"),
    ],
)
def test_bad_input(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def _builder(*overrides: str) -> SceneBuilder:
    return SceneBuilder(small_config(*overrides).scene, inst_size=(32, 16), roi_size=(32, 16))


def test_recipe_pastes_never_overlap_and_stay_inside() -> None:
    builder, inst, roi, lefts = _builder(), torch.ones(3, 32, 16), torch.zeros(3, 32, 16), set()
    for seed in range(200):
        a, b = builder.place_side_by_side(inst, roi, np.random.default_rng(seed))
        assert a.image is inst and b.image is roi
        ma, mb = a.mask(SIZE), b.mask(SIZE)
        assert ma.sum() == mb.sum() == 32 * 16  # fully inside: nothing clipped
        assert not (ma & mb).any()
        lefts.add(a.left < b.left)
    assert lefts == {True, False}  # both left/right orders occur


def _targets_of_placement(builder: SceneBuilder, seed: int) -> tuple[dict, torch.Tensor, torch.Tensor]:
    inst, roi = torch.full((3, 32, 16), 0.8), torch.full((3, 32, 16), 0.2)  # in 0..1, as from the views
    white = Image.new("RGB", (20, 40), (255, 255, 255))
    out = builder(
        Image.new("RGB", (40, 80)), inst, roi, np.random.default_rng(seed), people=lambda rng: white
    )
    placed = builder.place_side_by_side(inst, roi, np.random.default_rng(seed))  # the same first draws
    return out, *(cell_targets(p.mask(SIZE), 16, 0.5) for p in placed)


def test_recipe_targets_line_up_with_pasted_pixels() -> None:
    builder = _builder()
    for seed in range(5):
        torch.manual_seed(seed)
        out, inst_rect, roi_rect = _targets_of_placement(builder, seed)
        # The background is black: paste pixels are found by their quantised value (alpha 0.7).
        assert out["scene"].dtype == torch.uint8
        inst_pixels = (out["scene"] == round(0.7 * 0.8 * 255)).all(0)
        roi_pixels = (out["scene"] == round(0.7 * 0.2 * 255)).all(0)
        assert inst_pixels.sum() == roi_pixels.sum() == 32 * 16
        torch.testing.assert_close(out["inst_target"], cell_targets(inst_pixels, 16, 0.5))
        torch.testing.assert_close(out["roi_target"], cell_targets(roi_pixels, 16, 0.5))
        torch.testing.assert_close(out["inst_target"], inst_rect)
        torch.testing.assert_close(out["roi_target"], roi_rect)
        assert out["scene"].shape == (3, *SIZE)


def test_rich_distractors_only_remove_target_cells() -> None:
    builder = _builder("scene.mode=rich", "scene.max_distractors=3", "scene.scale_range=[0.5,1.0]")
    occluded = 0
    for seed in range(40):
        out, inst_rect, roi_rect = _targets_of_placement(builder, seed)
        for got, rect in ((out["inst_target"], inst_rect), (out["roi_target"], roi_rect)):
            assert torch.all(got <= rect)
            occluded += int(got.sum() < rect.sum())
    assert occluded > 0
