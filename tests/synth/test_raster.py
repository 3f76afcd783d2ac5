"""Primitive geometry, rasterisation order and pattern painting on hand-checked cases."""

import numpy as np
from PIL import Image

from saip.synth.figure import Primitive, capsule
from saip.synth.raster import Tables, paint, rasterize


def test_capsule_bounds_hand_computed() -> None:
    """A vertical limb from (5, 2) to (5, 12), radius 2: x in [3, 7], y in [0, 14]."""
    pts = np.asarray(capsule(np.array([5.0, 2.0]), np.array([5.0, 12.0]), 2.0, 2.0)).reshape(-1, 2)
    np.testing.assert_allclose(pts.min(0), [3.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(pts.max(0), [7.0, 14.0], atol=1e-9)


def _square(x0: float, y0: float, x1: float, y1: float, **kw) -> Primitive:
    return Primitive(
        "poly", (x0, y0, x1, y0, x1, y1, x0, y1), 0.0, kw.pop("label", 5), kw.pop("colour", (200, 0, 0)), **kw
    )


def test_rasterize_later_primitives_cover_earlier() -> None:
    ids = rasterize([_square(0, 0, 5, 5), _square(3, 3, 7, 7)], (8, 8))
    assert ids.dtype == np.uint8 and ids.shape == (8, 8)
    assert ids[1, 1] == 1 and ids[4, 4] == 2 and ids[7, 0] == 0


def test_rasterize_many_primitives_switches_to_int32() -> None:
    prims = [_square(i % 20, 0, i % 20 + 1, 1) for i in range(300)]
    ids = rasterize(prims, (4, 24))
    assert ids.dtype == np.int32 and ids.max() == 300


def test_tables_look_up_labels_and_people() -> None:
    prims = [_square(0, 0, 3, 3, label=13, person=1, owners=0b101), _square(4, 4, 7, 7, label=0)]
    t = Tables.of(prims)
    assert (
        t.label.tolist() == [0, 13, 0] and t.person.tolist() == [0, 1, 0] and t.owners.tolist() == [0, 5, 0]
    )


def test_paint_stripes_and_background() -> None:
    """Horizontal stripes of period 2: rows 2-3 of the square get colour2, rows 0-1 and 4-5 colour."""
    prim = _square(0, 0, 9, 9, pattern=1, colour2=(0, 0, 250), period=2.0)
    ids = rasterize([prim], (12, 12))
    background = Image.new("RGB", (12, 12), (7, 7, 7))
    out = np.asarray(paint([prim], ids, background))
    assert (
        tuple(out[1, 4]) == (200, 0, 0)
        and tuple(out[2, 4]) == (0, 0, 250)
        and tuple(out[4, 4]) == (200, 0, 0)
    )
    assert tuple(out[11, 11]) == (7, 7, 7)  # untouched background
    assert tuple(out[0, 0]) == (150, 0, 0)  # outline: 3/4 of the fill colour
