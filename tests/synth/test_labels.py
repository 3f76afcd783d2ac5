"""Label consistency of rendered crops and scenes: masks, boxes, keypoints, parts, identities."""

import numpy as np
import pytest

from saip.synth.appearance import COLOURS, Appearance, sample_appearance, sample_identity
from saip.synth.camera import sample_camera
from saip.synth.compose import Rendered
from saip.synth.difficulty import Difficulty
from saip.synth.figure import LIP_CLASSES, UPPER
from saip.synth.person import render_crop
from saip.synth.scene import render_scene


def _samples() -> list[Rendered]:
    out = []
    for i in range(6):
        rng = np.random.default_rng([99, i])
        out.append(
            render_crop(sample_appearance(rng), rng, (96, 48), sample_camera(rng), Difficulty(occlusion=0.5))[
                0
            ]
        )
        out.append(render_scene(rng, (160, 192), max_people=6, difficulty=Difficulty(occlusion=0.8))[0])
    return out


@pytest.fixture(scope="module")
def samples() -> list[Rendered]:
    return _samples()


def test_parts_in_range_and_match_instances(samples: list[Rendered]) -> None:
    for r in samples:
        assert r.parsing.max() < len(LIP_CLASSES)
        np.testing.assert_array_equal(r.parsing > 0, r.instances > 0)  # every person pixel has a part


def test_visible_keypoints_fall_inside_their_own_mask(samples: list[Rendered]) -> None:
    checked = 0
    for r in samples:
        for k, person in enumerate(r.people, start=1):
            kps = person.keypoints
            assert kps.shape == (133, 3) and set(np.unique(kps[:, 2])) <= {0, 1, 2}
            visible = kps[:, 2] == 2
            xs, ys = kps[visible, 0].astype(int), kps[visible, 1].astype(int)
            assert (r.instances[ys, xs] == k).all()
            assert (kps[kps[:, 2] == 0, :2] == 0).all()  # unlabelled points are (0, 0, 0), as COCO
            checked += int(visible.sum())
    assert checked > 100


def test_boxes_contain_masks(samples: list[Rendered]) -> None:
    for r in samples:
        for k, person in enumerate(r.people, start=1):
            ys, xs = np.nonzero(r.instances == k)
            assert person.area == xs.size
            if not xs.size:
                continue
            x, y, w, h = person.visible_box
            assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
            fx, fy, fw, fh = person.full_box  # amodal box: contains the visible one (1 px raster slack)
            assert fx <= x + 1 and fy <= y + 1 and fx + fw >= x + w - 1 and fy + fh >= y + h - 1


def test_crop_is_filled_by_its_person(samples: list[Rendered]) -> None:
    for r in samples[::2]:
        assert r.people[0].visible_box[3] >= 0.4 * r.ids.shape[0]


def _solid(app: Appearance) -> Appearance:
    import dataclasses

    return dataclasses.replace(app, upper_pattern="solid", upper_type="tshirt")


def test_identity_keeps_its_clothes_across_cameras() -> None:
    """The clean render of one identity shows the same garment colour under every camera."""
    app = _solid(sample_identity(3, 17, Difficulty()))
    for cam in range(4):
        rng = np.random.default_rng([3, cam])
        rendered, _ = render_crop(app, rng, (128, 64), sample_camera(rng), Difficulty(occlusion=0.0))
        pixels = rendered.image[rendered.parsing == UPPER]
        assert pixels.size
        assert tuple(np.median(pixels, axis=0).astype(int)) == COLOURS[app.upper_colour]
