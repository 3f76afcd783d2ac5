"""Turn a projected body and an appearance into depth-ordered 2-D primitives (polygons, ellipses).

Each primitive carries its LIP part label, colour, garment pattern and the keypoints it "owns", so
one painter's-algorithm pass gives the picture, the part map, the instance map and keypoint
visibility at once (a keypoint is visible where the pixel under it belongs to one of its owners).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from saip.synth.appearance import COLOURS, Appearance, legwear
from saip.synth.skeleton import Body

LIP_CLASSES: tuple[str, ...] = (
    "Background",
    "Hat",
    "Hair",
    "Glove",
    "Sunglasses",
    "UpperClothes",
    "Dress",
    "Coat",
    "Socks",
    "Pants",
    "Jumpsuits",
    "Scarf",
    "Skirt",
    "Face",
    "Left-arm",
    "Right-arm",
    "Left-leg",
    "Right-leg",
    "Left-shoe",
    "Right-shoe",
)
HAT, HAIR, GLOVE, GLASSES, UPPER, DRESS, COAT, SOCKS, PANTS = 1, 2, 3, 4, 5, 6, 7, 8, 9
JUMPSUITS, SCARF, SKIRT, FACE = 10, 11, 12, 13
ARM, LEG, SHOE = (14, 15), (16, 17), (18, 19)  # (person's left, person's right)
# Owner bits: 0..16 the COCO body points, then whole-body groups.
FACE_BIT, HAND_BITS, FOOT_BITS = 17, (18, 19), (20, 21)
# Pattern codes painted by saip.synth.raster.paint.
SOLID, STRIPES, CHECKS, SPLICE, PINSTRIPES = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Primitive:
    """One filled shape in pixels.

    Attributes:
        shape: "poly" (coords x0, y0, x1, y1, ...) or "ellipse" (coords: the bounding box).
        depth: draw order within a person (larger is nearer, drawn later).
        label: LIP class; 0 for things that are not part of the person (bags, occluders).
        person: 1-based instance id, 0 for things that belong to nobody.
        owners: bit mask of the keypoints (and whole-body groups) this shape may show.
        pattern: SOLID, STRIPES, CHECKS, SPLICE or PINSTRIPES; colour2 is the second colour and
            period the stripe width in pixels (for SPLICE: the row below which colour2 shows).
        garment: garment name for part-level attribute parsing (Fashionpedia), or None.
    """

    shape: str
    coords: tuple[float, ...]
    depth: float
    label: int
    colour: tuple[int, int, int]
    person: int = 0
    owners: int = 0
    pattern: int = 0
    colour2: tuple[int, int, int] = (0, 0, 0)
    period: float = 0.0
    garment: str | None = None


# Unit half circle (5 points) for the rounded limb ends; pure-Python maths: NumPy's per-call
# overhead dominates on 5-element arrays, and a body has ~20 limbs.
_ARC = [(math.cos(a), math.sin(a)) for a in np.linspace(0, math.pi, 5).tolist()]


def capsule(p: np.ndarray, q: np.ndarray, r1: float, r2: float) -> tuple[float, ...]:
    """A tapered limb from p to q (radii r1, r2) as one polygon with rounded ends."""
    px, py, qx, qy = float(p[0]), float(p[1]), float(q[0]), float(q[1])
    theta = math.atan2(qx - px, py - qy)  # angle of the limb's normal (-dy, dx)
    ct, st = math.cos(theta), math.sin(theta)
    rot = [(ct * c + st * s, st * c - ct * s) for c, s in _ARC]  # angles theta - a, a in [0, pi]
    coords: list[float] = []
    for cx, sx in rot:
        coords += (qx + r2 * cx, qy + r2 * sx)
    for cx, sx in rot:
        coords += (px - r1 * cx, py - r1 * sx)
    return tuple(coords)


def _box(c: np.ndarray, rx: float, ry: float) -> tuple[float, ...]:
    return (float(c[0] - rx), float(c[1] - ry), float(c[0] + rx), float(c[1] + ry))


def _quad(top: np.ndarray, bottom: np.ndarray, w_top: float, w_bottom: float) -> tuple[float, ...]:
    """A trapezoid around the segment top-bottom (torso, skirt, coat)."""
    d = bottom - top
    n = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
    pts = [top - n * w_top, top + n * w_top, bottom + n * w_bottom, bottom - n * w_bottom]
    return tuple(np.concatenate(pts).tolist())


class _Pen:
    """Collects one person's primitives in pixels; `add` stamps the person id and owner bits."""

    def __init__(
        self, app: Appearance, body: Body, origin: tuple[float, float], scale: float, person: int
    ) -> None:
        o = np.asarray(origin, dtype=float)
        self.app, self.scale, self.person = app, scale, person
        self.pt = body.points * scale + o  # [133, 2] pixels
        self.z, self.facing = body.depth, body.facing
        self.ex = {k: (v * scale + o, d) for k, (v, d) in body.extra.items()}
        self.px = {k: v * scale for k, v in body.sizes.items()}  # lengths in pixels
        self.stature = body.sizes["stature"]  # in depth units (statures)
        self.cos, self.sin = math.cos(body.yaw), math.sin(body.yaw)
        self.prims: list[Primitive] = []

    def add(
        self,
        shape: str,
        coords: tuple[float, ...],
        depth: float,
        label: int,
        colour: tuple[int, int, int],
        owners: tuple[int, ...] = (),
        **kw: Any,
    ) -> None:
        mask = sum(1 << b for b in set(owners))
        self.prims.append(
            Primitive(shape, coords, float(depth), label, colour, self.person if label else 0, mask, **kw)
        )


def person_primitives(
    app: Appearance, body: Body, origin: tuple[float, float], scale: float, person: int, seated: bool = False
) -> list[Primitive]:
    """Primitives of one person, sorted far to near.

    Args:
        origin: pixel (x, y) of the point between the heels.
        scale: pixels per stature unit.
        person: 1-based instance id written into the primitives.
        seated: draw a seat (not part of the person) under the hips, behind the body.
    """
    pen = _Pen(app, body, origin, scale, person)
    _legs(pen)
    torso_z = _torso(pen)
    _arms(pen)
    _head(pen)
    _carried(pen, torso_z)
    if seated:
        _seat(pen)
    return sorted(pen.prims, key=lambda p: p.depth)


def _stripe(pen: _Pen) -> float:
    return max(2.0, 0.022 * pen.scale)


def _bottoms(pen: _Pen) -> tuple[str, int, tuple[int, int, int], dict[str, Any]]:
    """What the legs wear (see `legwear`), its LIP label, colour and cloth keywords; a jumpsuit's
    legs are its upper garment's cloth, so torso and legs read as one garment."""
    app = pen.app
    lower = legwear(app.upper_type, app.lower_type)
    if app.upper_type == "jumpsuit":
        label, cloth = _upper(pen)
        return lower, label, COLOURS[app.upper_colour], cloth
    cloth = dict(
        garment={"trousers": "pants"}.get(lower, lower),
        pattern={"stripes": PINSTRIPES, "pattern": CHECKS}.get(app.lower_pattern, SOLID),
        colour2=COLOURS[app.lower_colour2],
        period=_stripe(pen),
    )
    return lower, SKIRT if lower == "skirt" else PANTS, COLOURS[app.lower_colour], cloth


def _legs(pen: _Pen) -> None:
    """Bare legs, trousers, shorts or a jumpsuit's legs, a skirt, socks, and shoes or boots; each
    side at its own depth."""
    app, pt, z, px = pen.app, pen.pt, pen.z, pen.px
    lower, label, colour, cloth = _bottoms(pen)
    thigh, shin = px["thigh_r"], px["shin_r"]
    for i in range(2):
        hip, knee, ankle = pt[11 + i], pt[13 + i], pt[15 + i]
        zt, zs = (z[11 + i] + z[13 + i]) / 2, (z[13 + i] + z[15 + i]) / 2
        if lower != "trousers":  # bare legs (trousers are wider and would hide them)
            pen.add("poly", capsule(hip, knee, thigh, 0.8 * thigh), zt, LEG[i], app.skin, (11 + i, 13 + i))
            pen.add("poly", capsule(knee, ankle, shin, 0.75 * shin), zs, LEG[i], app.skin, (13 + i, 15 + i))
            if app.socks is not None:  # flat-ended, from the shoe's top up a third of the shin
                shin_up = knee - ankle
                pen.add(
                    "poly",
                    _quad(ankle + 0.3 * shin_up, ankle + 0.04 * shin_up, 0.85 * shin, 0.8 * shin),
                    zs + 5e-4,
                    SOCKS,
                    COLOURS[app.socks],
                    (15 + i, FOOT_BITS[i]),
                    garment="sock_" + "lr"[i],
                )
        if lower == "trousers":
            pen.add(
                "poly",
                capsule(hip, knee, 1.15 * thigh, 0.95 * thigh),
                zt + 1e-3,
                label,
                colour,
                (11 + i, 13 + i),
                **cloth,
            )
            pen.add(
                "poly",
                capsule(knee, ankle, 1.2 * shin, shin),
                zs + 1e-3,
                label,
                colour,
                (13 + i, 15 + i),
                **cloth,
            )
        elif lower == "shorts":
            pen.add(
                "poly",
                capsule(hip, hip + 0.6 * (knee - hip), 1.2 * thigh, 1.05 * thigh),
                zt + 1e-3,
                label,
                colour,
                (11 + i,),
                **cloth,
            )
        top = ankle + (0.3 if app.boots else 0.05) * (knee - ankle)
        shoe = np.concatenate(
            [
                pt[19 + 3 * i][None],
                top[None] - [0.6 * shin, 0],
                top[None] + [0.6 * shin, 0],
                pt[17 + 3 * i : 19 + 3 * i],
            ]
        )
        hull = shoe[
            np.argsort(np.arctan2(*(shoe - shoe.mean(0)).T[::-1]))
        ]  # sorted by angle: a simple polygon
        pen.add(
            "poly",
            tuple(hull.ravel().tolist()),
            z[15 + i] + 2e-3,
            SHOE[i],
            COLOURS[app.shoe_colour],
            (15 + i, FOOT_BITS[i]),
            garment="shoe_" + "lr"[i],
        )
    hips, hip_z = pen.ex["hips"][0], max(z[11], z[12])
    if lower in ("trousers", "shorts"):
        pelvis = np.concatenate([pt[11] + [0, -2], pt[12] + [0, -2], hips + [0, 0.09 * px["stature"]]])
        pen.add("poly", tuple(pelvis.ravel().tolist()), hip_z + 2e-3, label, colour, (11, 12), **cloth)
    elif lower == "skirt":
        hem = np.array([hips[0], pt[[13, 14], 1].mean() - 0.02 * pen.scale])
        pen.add(
            "poly",
            _quad(hips, hem, 1.1 * px["hip_w"], 1.7 * px["hip_w"]),
            hip_z + 5e-3,
            label,
            colour,
            (11, 12),
            **cloth,
        )


def _upper(pen: _Pen) -> tuple[int, dict[str, Any]]:
    """LIP label and cloth keywords (garment, pattern) of the upper garment."""
    app = pen.app
    label = {"coat": COAT, "dress": DRESS, "jumpsuit": JUMPSUITS}.get(app.upper_type, UPPER)
    pattern = {"stripes": STRIPES, "checks": CHECKS, "splice": SPLICE}.get(app.upper_pattern, SOLID)
    period = _stripe(pen)
    if pattern == SPLICE:  # second colour below the middle of the torso (a jumpsuit's legs too)
        period = float((pen.ex["shoulders"][0][1] + pen.ex["hips"][0][1]) / 2)
    return label, dict(
        garment=app.upper_type, pattern=pattern, colour2=COLOURS[app.upper_colour2], period=period
    )


def _torso(pen: _Pen) -> float:
    """The torso garment (the torso is always clothed; coats and dresses reach the knees); returns its depth."""
    app, pt = pen.app, pen.pt
    label, cloth = _upper(pen)
    shoulders, hips = pen.ex["shoulders"][0], pen.ex["hips"][0]
    long = app.upper_type in ("coat", "dress")
    bottom = (
        np.array([hips[0], pt[[13, 14], 1].mean() + 0.01 * pen.scale])
        if long
        else hips + [0, 0.04 * pen.scale]
    )
    flare = {"coat": 1.35, "dress": 1.6}.get(app.upper_type, 1.05)
    torso_z = max(pen.z[11], pen.z[12]) + 0.01  # over the tops of the thighs
    owners = (5, 6, 11, 12) + ((13, 14) if long else ())
    pen.add(
        "poly",
        _quad(
            shoulders + [0, -0.015 * pen.scale],
            bottom,
            1.05 * pen.px["shoulder_w"],
            1.05 * flare * pen.px["hip_w"],
        ),
        torso_z,
        label,
        COLOURS[app.upper_colour],
        owners,
        **cloth,
    )
    if app.upper_pattern == "print" and pen.cos > 0.3:  # a logo on the chest, seen from the front
        chest = shoulders * 0.65 + hips * 0.35
        sw = pen.px["shoulder_w"]
        pen.add(
            "ellipse",
            _box(chest, 0.45 * sw * pen.cos, 0.3 * sw),
            torso_z + 1e-3,
            label,
            COLOURS[app.upper_colour2],
            (5, 6),
            garment=app.upper_type,
        )
    return torso_z


def _arms(pen: _Pen) -> None:
    """Bare arms, hands or gloves, then sleeves (long: to the wrist; short: half the upper arm)."""
    app, pt, z, px = pen.app, pen.pt, pen.z, pen.px
    label, cloth = _upper(pen)
    if cloth["pattern"] == SPLICE:
        cloth["pattern"] = SOLID
    colour = COLOURS[app.upper_colour]
    bias = 0.04 * pen.stature  # arms hanging beside the torso are drawn over its edge
    for i in range(2):
        sh, el, wr, tip = pt[5 + i], pt[7 + i], pt[9 + i], pen.ex["hand_tip_" + "lr"[i]][0]
        za, zf = (z[5 + i] + z[7 + i]) / 2 + bias, (z[7 + i] + z[9 + i]) / 2 + bias
        if app.sleeve != "long":  # a long sleeve hides the upper arm
            pen.add("poly", capsule(sh, el, px["arm_r"], px["fore_r"]), za, ARM[i], app.skin, (5 + i, 7 + i))
        pen.add(
            "poly", capsule(el, wr, px["fore_r"], 0.85 * px["fore_r"]), zf, ARM[i], app.skin, (7 + i, 9 + i)
        )
        gloved = app.gloves is not None  # a glove is the hand recoloured: same shape and owners
        pen.add(
            "poly",
            capsule(wr, tip, px["hand_r"], 0.8 * px["hand_r"]),
            zf + 1e-3,
            GLOVE if gloved else ARM[i],
            COLOURS[app.gloves] if gloved else app.skin,
            (9 + i, HAND_BITS[i]),
            garment="glove_" + "lr"[i] if gloved else None,
        )
        sleeve = {**cloth, "garment": "sleeve_" + "lr"[i]}
        if app.sleeve == "long":
            pen.add(
                "poly",
                capsule(sh, el, 1.2 * px["arm_r"], 1.15 * px["fore_r"]),
                za + 1e-3,
                label,
                colour,
                (5 + i, 7 + i),
                **sleeve,
            )
            pen.add(
                "poly",
                capsule(el, el + 0.9 * (wr - el), 1.15 * px["fore_r"], px["fore_r"]),
                zf + 5e-4,
                label,
                colour,
                (7 + i, 9 + i),
                **sleeve,
            )
        elif app.upper_type != "dress":
            pen.add(
                "poly",
                capsule(sh, sh + 0.45 * (el - sh), 1.25 * px["arm_r"], 1.2 * px["arm_r"]),
                za + 1e-3,
                label,
                colour,
                (5 + i,),
                **sleeve,
            )


def _hair(pen: _Pen, head: np.ndarray, hz: float) -> None:
    """Hair by style and view: the scalp cap, the whole head from behind, long hair, a knot."""
    app, rx, ry, cos, sin = pen.app, pen.px["head_rx"], pen.px["head_ry"], pen.cos, pen.sin
    hair = COLOURS[app.hair_colour]
    if app.hair_style == "long":  # falling behind the head: behind the torso when seen from the front
        back = head + [-0.25 * rx * sin, 0.9 * ry]
        pen.add(
            "poly", _quad(head, back + [0, 0.6 * ry], 1.05 * rx, 1.2 * rx), -0.05 * cos, HAIR, hair, (3, 4)
        )
    if cos < -0.3:  # seen from behind: hair covers the head
        pen.add("ellipse", _box(head + [0, -0.05 * ry], 1.03 * rx, 0.98 * ry), hz + 2e-3, HAIR, hair, (3, 4))
    else:  # the scalp from ear to ear, lower on the back of the head in side views, fringe above the eyes
        back = 0.9 * abs(sin)
        t = np.linspace(
            np.pi - 0.05 - (back if sin > 0 else 0), 2 * np.pi + 0.05 + (back if sin < 0 else 0), 10
        )
        arc = head + np.stack([1.05 * rx * np.cos(t), 1.05 * ry * np.sin(t)], 1)
        half, centre = 0.55 * rx * max(abs(cos), 0.3), head + [-0.25 * rx * sin, -0.45 * ry]
        fringe = np.stack([centre + [half, 0], centre - [half, 0]])
        pen.add("poly", tuple(np.concatenate([arc, fringe]).ravel().tolist()), hz + 2e-3, HAIR, hair, (3, 4))
    if app.hair_style in ("ponytail", "bun"):
        bun = app.hair_style == "bun"
        knot = head + [-0.9 * rx * sin, -0.5 * ry if bun else 0.4 * ry]
        pen.add(
            "ellipse",
            _box(knot, (0.35 if bun else 0.3) * ry, (0.35 if bun else 0.7) * ry),
            hz + (3e-3 if cos < 0 else -3e-3),
            HAIR,
            hair,
        )


def _head(pen: _Pen) -> None:
    """Neck, scarf, face, eyes, hair, glasses and hat; the head is drawn over the body."""
    app, pt, rx, ry = pen.app, pen.pt, pen.px["head_rx"], pen.px["head_ry"]
    head = pen.ex["head"][0]
    face_owners = (0, 1, 2, 3, 4, FACE_BIT)
    hz = 0.5
    neck_r = pen.px["neck_r"]
    pen.add(
        "poly",
        capsule(pen.ex["neck"][0] + [0, 0.02 * pen.scale], head, neck_r, neck_r),
        hz - 2e-3,
        FACE,
        app.skin,
    )
    if app.scarf is not None:  # from the neck to the upper chest, over the neck, under the face
        chest = pen.ex["shoulders"][0] + [0, 0.05 * pen.scale]
        pen.add(
            "poly",
            _quad(pen.ex["neck"][0], chest, 1.5 * neck_r, 0.6 * pen.px["shoulder_w"]),
            hz - 1e-3,
            SCARF,
            COLOURS[app.scarf],
            (5, 6),  # it may cover the shoulder points in side views
            garment="scarf",
        )
    pen.add("ellipse", _box(head, rx, ry), hz, FACE, app.skin, face_owners)
    for eye in (1, 2):
        if pen.facing[eye]:  # an eye turned away from the camera is not drawn
            pen.add(
                "ellipse",
                _box(pt[eye], max(0.6, 0.12 * rx), max(0.6, 0.1 * ry)),
                hz + 1e-3,
                FACE,
                (40, 30, 30),
                face_owners,
            )
    if app.hair_style != "bald":
        _hair(pen, head, hz)
    if app.glasses and pen.cos > 0.2:
        eyes = (pt[1] + pt[2]) / 2
        half = max(abs(pt[1][0] - pt[2][0]) / 2 + 0.15 * rx, 0.25 * rx)
        pen.add(
            "poly",
            _quad(eyes - [half, 0], eyes + [half, 0], 0.12 * ry, 0.12 * ry),
            hz + 4e-3,
            GLASSES,
            (20, 20, 25),
            (1, 2, FACE_BIT),
            garment="glasses",
        )
    if app.hat is not None:
        t = np.linspace(np.pi, 2 * np.pi, 9)
        dome = head + [0, -0.25 * ry] + np.stack([1.08 * rx * np.cos(t), 0.85 * ry * np.sin(t)], 1)
        brim = head + [0.6 * rx * pen.sin, -0.25 * ry]  # the peak points where the face looks
        pts = np.concatenate([dome, [brim + [1.3 * rx, 0.1 * ry], brim + [-1.3 * rx, 0.1 * ry]]])
        pen.add("poly", tuple(pts.ravel().tolist()), hz + 5e-3, HAT, COLOURS[app.hat], garment="hat")


def _carried(pen: _Pen, torso_z: float) -> None:
    """Backpack, handbag or shoulder bag, and an object held in front: not part of the person."""
    app, pt, z, s = pen.app, pen.pt, pen.z, pen.scale
    if app.backpack is not None:
        back, back_z = pen.ex["back"]
        w = 0.085 * s * abs(pen.cos) + 0.06 * s * abs(pen.sin)
        pen.add("ellipse", _box(back, w, 0.12 * s), back_z, 0, COLOURS[app.backpack], garment="backpack")
    if app.bag != "none":
        side = 0 if app.bag_colour < app.upper_colour else 1  # a fixed side per identity
        colour = COLOURS[app.bag_colour]
        if app.bag == "handbag":
            wrist = pt[9 + side]
            pen.add(
                "poly",
                _quad(wrist + [0, 0.02 * s], wrist + [0, 0.12 * s], 0.05 * s, 0.06 * s),
                z[9 + side] + 0.03,
                0,
                colour,
                garment="bag",
            )
        else:
            centre, bag_z = pen.ex["bag_" + "lr"[side]]
            half = 0.06 * s * max(abs(pen.cos), 0.4)
            pen.add(
                "poly",
                capsule(pt[6 - side], centre, 0.008 * s, 0.008 * s),
                torso_z + 0.015,
                0,
                colour,
                garment="bag",
            )
            pen.add(
                "poly",
                _quad(centre + [0, -0.04 * s], centre + [0, 0.05 * s], half, half),
                bag_z + 0.02,
                0,
                colour,
                garment="bag",
            )
    if app.holding:
        centre = (pt[9] + pt[10]) / 2
        pen.add(
            "poly",
            _quad(centre + [0, -0.04 * s], centre + [0, 0.03 * s], 0.05 * s, 0.05 * s),
            (z[9] + z[10]) / 2 + 0.03,
            0,
            (150, 110, 70),
        )


def _seat(pen: _Pen) -> None:
    """A box from the hips to the ground behind a sitting person (a bench, a low wall)."""
    pt, s = pen.pt, pen.scale
    top = float(pt[[11, 12], 1].mean()) + 0.02 * s
    x0, x1 = float(pt[11:15, 0].min()) - 0.06 * s, float(pt[11:15, 0].max()) + 0.06 * s
    ground = float(pt[[15, 16], 1].max()) + 0.03 * s
    pen.add("poly", (x0, top, x1, top, x1, ground, x0, ground), -1.0, 0, (120, 90, 60))
