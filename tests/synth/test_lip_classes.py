"""Every LIP class is drawn: gloves, socks, jumpsuits and scarves next to the other parts."""

import dataclasses

import numpy as np

from saip.synth.appearance import Appearance, sample_appearance
from saip.synth.camera import sample_camera
from saip.synth.compose import Rendered
from saip.synth.difficulty import Difficulty
from saip.synth.figure import GLOVE, JUMPSUITS, LIP_CLASSES, PANTS, SCARF, SKIRT, SOCKS, UPPER
from saip.synth.formats.fashion import CATEGORIES, _category
from saip.synth.person import render_crop
from saip.synth.skeleton import LHAND, RHAND

CLEAN = Difficulty(occlusion=0.0)


def _render(app: Appearance, seed: int, view: str | None = None) -> Rendered:
    rng = np.random.default_rng([41, seed])
    return render_crop(app, rng, (128, 64), sample_camera(rng), CLEAN, view)[0]


def _dressed(seed: int, **fields: object) -> Appearance:
    return dataclasses.replace(sample_appearance(np.random.default_rng([40, seed])), **fields)


def test_every_lip_class_appears_in_200_crops() -> None:
    seen: set[int] = set()
    for i in range(200):
        rng = np.random.default_rng([42, i])
        rendered, _ = render_crop(sample_appearance(rng), rng, (96, 48), sample_camera(rng), CLEAN)
        seen.update(np.unique(rendered.parsing).tolist())
    assert seen == set(range(len(LIP_CLASSES)))


def test_visible_hand_points_lie_on_the_gloves() -> None:
    hands = np.r_[LHAND, RHAND]
    checked = 0
    for seed in range(12):
        r = _render(_dressed(seed, gloves="yellow"), seed)
        assert (r.parsing == GLOVE).any()
        kps = r.people[0].keypoints[hands]
        visible = kps[:, 2] == 2
        xs, ys = kps[visible, 0].astype(int), kps[visible, 1].astype(int)
        assert (r.parsing[ys, xs] == GLOVE).all()
        checked += int(visible.sum())
    assert checked > 50


def test_scarf_and_socks_keep_their_points_visible() -> None:
    """A shoulder under a scarf (side views) or an ankle under a sock is still visible: the
    shapes own those points (a far-side point stays hidden)."""
    covered = 0
    for seed in range(12):
        app = _dressed(
            seed, upper_type="tshirt", lower_type="shorts", boots=False, scarf="red", socks="white"
        )
        r = _render(app, seed, view=("front", "side", "back")[seed % 3])
        assert (r.parsing == SCARF).any() and (r.parsing == SOCKS).any()
        person = r.people[0]
        for k in (5, 6, 15, 16):
            x, y, v = person.keypoints[k]
            if r.parsing[int(y), int(x)] in (SCARF, SOCKS) and person.figure.body.facing[k]:
                assert v == 2
                covered += 1
    assert covered


def test_jumpsuit_is_one_garment_over_torso_and_legs() -> None:
    r = _render(_dressed(3, upper_type="jumpsuit", lower_type="skirt"), 3, view="front")
    labels = set(np.unique(r.parsing).tolist())
    assert JUMPSUITS in labels and not labels & {UPPER, PANTS, SKIRT}
    assert {p.garment for p in r.prims if p.label == JUMPSUITS} == {"jumpsuit", "sleeve_l", "sleeve_r"}
    knee_y = r.people[0].keypoints[[13, 14], 1].max()
    assert np.nonzero(r.parsing == JUMPSUITS)[0].max() > knee_y  # reaches below the knees


def test_every_garment_tag_has_a_fashionpedia_category() -> None:
    app = _dressed(5, upper_type="jumpsuit", scarf="red", gloves="black", hat="blue", glasses=True)
    tags = {p.garment for p in _render(app, 5, view="front").prims if p.garment}
    app = _dressed(6, upper_type="shirt", lower_type="skirt", boots=False, socks="red")
    tags |= {p.garment for p in _render(app, 6).prims if p.garment}
    keys = {_category(t) for t in tags}
    assert {"jumpsuit", "scarf", "glove", "sock"} <= keys <= set(CATEGORIES)
    assert {CATEGORIES[k][0] for k in ("jumpsuit", "glove", "sock", "scarf")} == {11, 17, 22, 25}
