"""Turn a projected body and an appearance into depth-ordered 2-D primitives (polygons, ellipses).

Each primitive carries its LIP part label, colour, garment pattern and the keypoints it "owns", so
one painter's-algorithm pass gives the picture, the part map, the instance map and keypoint
visibility at once (a keypoint is visible where the pixel under it belongs to one of its owners).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from saip.synth.appearance import COLOURS, Appearance
from saip.synth.skeleton import Body

LIP_CLASSES: tuple[str, ...] = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "UpperClothes", "Dress", "Coat", "Socks",
    "Pants", "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg",
    "Left-shoe", "Right-shoe",
)
HAT, HAIR, GLASSES, UPPER, DRESS, COAT, PANTS, SKIRT, FACE = 1, 2, 4, 5, 6, 7, 9, 12, 13
ARM, LEG, SHOE = (14, 15), (16, 17), (18, 19)  # (person's left, person's right)
# Owner bits: 0..16 the COCO body points, then whole-body groups.
FACE_BIT, HAND_BITS, FOOT_BITS = 17, (18, 19), (20, 21)
PATTERN_CODES = {"solid": 0, "stripes": 1, "checks": 2, "splice": 3, "vstripes": 4}


@dataclass(frozen=True)
class Primitive:
    """One filled shape in pixels.

    Attributes:
        shape: "poly" (coords x0, y0, x1, y1, ...) or "ellipse" (coords: the bounding box).
        depth: draw order within a person (larger is nearer, drawn later).
        label: LIP class; 0 for things that are not part of the person (bags, occluders).
        person: 1-based instance id, 0 for things that belong to nobody.
        owners: bit mask of the keypoints (and whole-body groups) this shape may show.
        pattern: PATTERN_CODES value; colour2 and period (pixels, or the split row for splice).
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


Extra = dict[str, tuple[np.ndarray, float]]
Adder = Callable[..., None]


_ARC = np.linspace(0, np.pi, 5)


def capsule(p: np.ndarray, q: np.ndarray, r1: float, r2: float) -> tuple[float, ...]:
    """A tapered limb from p to q (radii r1, r2) as one polygon with rounded ends."""
    theta = float(np.arctan2(q[0] - p[0], p[1] - q[1]))  # angle of the normal (-dy, dx)
    a = theta - _ARC
    ca, sa = np.cos(a), np.sin(a)
    xs = np.concatenate([q[0] + r2 * ca, p[0] - r1 * ca])
    ys = np.concatenate([q[1] + r2 * sa, p[1] - r1 * sa])
    return tuple(np.stack([xs, ys], 1).ravel().tolist())


def _box(c: np.ndarray, rx: float, ry: float) -> tuple[float, ...]:
    return (float(c[0] - rx), float(c[1] - ry), float(c[0] + rx), float(c[1] + ry))


def _quad(top: np.ndarray, bottom: np.ndarray, w_top: float, w_bottom: float) -> tuple[float, ...]:
    """A trapezoid around the segment top-bottom (torso, skirt, coat)."""
    d = bottom - top
    n = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9)
    pts = [top - n * w_top, top + n * w_top, bottom + n * w_bottom, bottom - n * w_bottom]
    return tuple(np.concatenate(pts).tolist())


def person_primitives(app: Appearance, body: Body, origin: tuple[float, float], scale: float, person: int) -> list[Primitive]:
    """Primitives of one person, sorted far to near.

    Args:
        origin: pixel (x, y) of the point between the heels.
        scale: pixels per stature unit.
        person: 1-based instance id written into the primitives.
    """
    o = np.asarray(origin, dtype=float)
    pt = body.points * scale + o
    z = body.depth
    ex = {k: (v[0] * scale + o, v[1]) for k, v in body.extra.items()}
    sz = {k: v * scale for k, v in body.sizes.items()}
    cos_yaw, sin_yaw = body.sizes["cos_yaw"], body.sizes["sin_yaw"]
    skin = app.skin
    prims: list[Primitive] = []

    def add(shape: str, coords: tuple[float, ...], depth: float, label: int, colour: tuple[int, int, int], owners: tuple[int, ...] = (), **kw: Any) -> None:
        mask = sum(1 << b for b in set(owners))
        prims.append(Primitive(shape, coords, float(depth), label, colour, person if label else 0, mask, **kw))

    upper_label = {"coat": COAT, "dress": DRESS}.get(app.upper_type, UPPER)
    upper_rgb, upper_rgb2 = COLOURS[app.upper_colour], COLOURS[app.upper_colour2]
    stripe = max(2.0, 0.022 * scale)
    up_pattern = {"stripes": 1, "checks": 2, "splice": 3}.get(app.upper_pattern, 0)
    shoulders, hips = ex["shoulders"][0], ex["hips"][0]
    up_period = float((shoulders[1] + hips[1]) / 2) if up_pattern == 3 else stripe
    garment_kw = dict(pattern=up_pattern, colour2=upper_rgb2, period=up_period, garment=app.upper_type)
    hip_z = max(z[11], z[12])
    torso_z = hip_z + 0.01
    knee_y = float(pt[[13, 14], 1].mean())
    sw, hw = sz["shoulder_w"], sz["hip_w"]

    # Legs, trousers, shoes: each side drawn at its own depth.
    lower = app.lower_type if app.upper_type != "dress" else "none"
    low_rgb, low_rgb2 = COLOURS[app.lower_colour], COLOURS[app.lower_colour2]
    low_pattern = {"stripes": 4, "pattern": 2}.get(app.lower_pattern, 0)
    low_kw = dict(pattern=low_pattern, colour2=low_rgb2, period=stripe)
    for i in range(2):
        hip, knee, ankle = pt[11 + i], pt[13 + i], pt[15 + i]
        zt, zs = (z[11 + i] + z[13 + i]) / 2, (z[13 + i] + z[15 + i]) / 2
        add("poly", capsule(hip, knee, sz["thigh_r"], 0.8 * sz["thigh_r"]), zt, LEG[i], skin, (11 + i, 13 + i))
        add("poly", capsule(knee, ankle, sz["shin_r"], 0.75 * sz["shin_r"]), zs, LEG[i], skin, (13 + i, 15 + i))
        if lower == "trousers":
            add("poly", capsule(hip, knee, 1.15 * sz["thigh_r"], 0.95 * sz["thigh_r"]), zt + 1e-3, PANTS, low_rgb, (11 + i, 13 + i), garment="pants", **low_kw)
            add("poly", capsule(knee, ankle, sz["shin_r"] * 1.2, sz["shin_r"]), zs + 1e-3, PANTS, low_rgb, (13 + i, 15 + i), garment="pants", **low_kw)
        elif lower == "shorts":
            add("poly", capsule(hip, hip + 0.6 * (knee - hip), 1.2 * sz["thigh_r"], 1.05 * sz["thigh_r"]), zt + 1e-3, PANTS, low_rgb, (11 + i,), garment="shorts", **low_kw)
        toes, heel = pt[17 + 3 * i: 19 + 3 * i], pt[19 + 3 * i]
        top = ankle + (0.3 if app.boots else 0.05) * (pt[13 + i] - ankle)
        shoe = np.concatenate([heel[None], top[None] - [0.6 * sz["shin_r"], 0], top[None] + [0.6 * sz["shin_r"], 0], toes])
        hull = shoe[np.argsort(np.arctan2(*(shoe - shoe.mean(0)).T[::-1]))]
        add("poly", tuple(hull.ravel().tolist()), z[15 + i] + 2e-3, SHOE[i], COLOURS[app.shoe_colour], (15 + i, FOOT_BITS[i]), garment="shoe_" + "lr"[i])
    if lower in ("trousers", "shorts"):
        crotch = hips + [0, 0.09 * scale * body.sizes["stature"]]
        pelvis = np.concatenate([pt[11] + [0, -2], pt[12] + [0, -2], crotch])
        add("poly", tuple(pelvis.ravel().tolist()), hip_z + 2e-3, PANTS, low_rgb, (11, 12), garment="pants" if lower == "trousers" else "shorts", **low_kw)
    elif lower == "skirt":
        add("poly", _quad(hips, np.array([hips[0], knee_y - 0.02 * scale]), 1.1 * hw, 1.7 * hw), hip_z + 5e-3, SKIRT, low_rgb, (11, 12), garment="skirt", **low_kw)

    # Torso garment (the torso is always clothed); coats and dresses reach the knees.
    bottom = hips + [0, 0.04 * scale]
    flare = 1.05
    if app.upper_type in ("coat", "dress"):
        bottom, flare = np.array([hips[0], knee_y + 0.01 * scale]), 1.35 if app.upper_type == "coat" else 1.6
    torso_owners = (5, 6, 11, 12) + ((13, 14) if app.upper_type in ("coat", "dress") else ())
    add("poly", _quad(shoulders + [0, -0.015 * scale], bottom, 1.05 * sw, flare * hw * 1.05), torso_z, upper_label, upper_rgb, torso_owners, **garment_kw)
    if app.upper_pattern == "print" and cos_yaw > 0.3:
        chest = shoulders * 0.65 + hips * 0.35
        add("ellipse", _box(chest, 0.45 * sw * cos_yaw, 0.3 * sw), torso_z + 1e-3, upper_label, upper_rgb2, (5, 6), garment=app.upper_type)

    # Arms, sleeves, hands.
    long_sleeve = app.sleeve == "long"
    for i in range(2):
        sh, el, wr, tip = pt[5 + i], pt[7 + i], pt[9 + i], ex["hand_tip_" + "lr"[i]][0]
        bias = 0.04 * body.sizes["stature"]
        za, zf = (z[5 + i] + z[7 + i]) / 2 + bias, (z[7 + i] + z[9 + i]) / 2 + bias
        add("poly", capsule(sh, el, sz["arm_r"], sz["fore_r"]), za, ARM[i], skin, (5 + i, 7 + i))
        add("poly", capsule(el, wr, sz["fore_r"], 0.85 * sz["fore_r"]), zf, ARM[i], skin, (7 + i, 9 + i))
        add("poly", capsule(wr, tip, sz["hand_r"], 0.8 * sz["hand_r"]), zf + 1e-3, ARM[i], skin, (9 + i, HAND_BITS[i]))
        sleeve_kw = dict(pattern=up_pattern if up_pattern != 3 else 0, colour2=upper_rgb2, period=stripe, garment="sleeve_" + "lr"[i])
        if long_sleeve:
            add("poly", capsule(sh, el, 1.2 * sz["arm_r"], 1.15 * sz["fore_r"]), za + 1e-3, upper_label, upper_rgb, (5 + i, 7 + i), **sleeve_kw)
            add("poly", capsule(el, el + 0.9 * (wr - el), 1.15 * sz["fore_r"], sz["fore_r"]), zf + 5e-4, upper_label, upper_rgb, (7 + i, 9 + i), **sleeve_kw)
        elif app.upper_type != "dress":
            add("poly", capsule(sh, sh + 0.45 * (el - sh), 1.25 * sz["arm_r"], 1.2 * sz["arm_r"]), za + 1e-3, upper_label, upper_rgb, (5 + i,), **sleeve_kw)

    _head(app, pt, ex, sz, cos_yaw, sin_yaw, scale, add)
    _carried(app, pt, ex, z, cos_yaw, sin_yaw, scale, torso_z, add)
    prims.sort(key=lambda p: p.depth)
    return prims


def _head(app: Appearance, pt: np.ndarray, ex: Extra, sz: dict[str, float], cos_yaw: float, sin_yaw: float, scale: float, add: Adder) -> None:
    """Neck, face, eyes, hair (by style and view), hat and glasses."""
    head, head_z = ex["head"]
    rx, ry = sz["head_rx"], sz["head_ry"]
    face_owners = (0, 1, 2, 3, 4, 17)
    hair = COLOURS[app.hair_colour]
    hz = 0.5  # the head is drawn over the body
    add("poly", capsule(ex["neck"][0] + [0, 0.02 * scale], head, sz["neck_r"], sz["neck_r"]), hz - 2e-3, FACE, app.skin, ())
    if app.hair_style == "long":  # hair falling behind the head: behind the torso when seen from the front
        back = head + [-0.25 * rx * np.sign(sin_yaw) * abs(sin_yaw), 0.9 * ry]
        add("poly", _quad(head, back + [0, 0.6 * ry], 1.05 * rx, 1.2 * rx), -0.05 * cos_yaw, HAIR, hair, (3, 4))
    add("ellipse", _box(head, rx, ry), hz, FACE, app.skin, face_owners)
    if cos_yaw > -0.3:
        for eye in (pt[1], pt[2]):
            add("ellipse", _box(eye, max(0.6, 0.12 * rx), max(0.6, 0.1 * ry)), hz + 1e-3, FACE, (40, 30, 30), face_owners)
    if app.hair_style != "bald":
        if cos_yaw < -0.3:  # seen from behind: hair covers the head
            add("ellipse", _box(head + [0, -0.05 * ry], 1.03 * rx, 0.98 * ry), hz + 2e-3, HAIR, hair, (3, 4))
        else:
            back = 0.9 * abs(sin_yaw)
            t0, t1 = np.pi - 0.15 - (back if sin_yaw > 0 else 0), 2 * np.pi + 0.15 + (back if sin_yaw < 0 else 0)
            t = np.linspace(t0, t1, 10)
            arc = head + np.stack([1.05 * rx * np.cos(t), 1.05 * ry * np.sin(t)], 1)
            fringe = head + [0.25 * rx * -np.sign(sin_yaw) * abs(sin_yaw), -0.3 * ry]
            add("poly", tuple(np.concatenate([arc, fringe[None]]).ravel().tolist()), hz + 2e-3, HAIR, hair, (3, 4))
        if app.hair_style in ("ponytail", "bun"):
            knot = head + [-0.9 * rx * np.sign(sin_yaw) * abs(sin_yaw), -0.5 * ry if app.hair_style == "bun" else 0.4 * ry]
            size = 0.35 if app.hair_style == "bun" else 0.3
            add("ellipse", _box(knot, size * ry, (0.35 if app.hair_style == "bun" else 0.7) * ry), hz + (3e-3 if cos_yaw < 0 else -3e-3), HAIR, hair, ())
    if app.glasses and cos_yaw > 0.2:
        eyes = (pt[1] + pt[2]) / 2
        half = max(abs(pt[1][0] - pt[2][0]) / 2 + 0.15 * rx, 0.25 * rx)
        add("poly", _quad(eyes - [half, 0], eyes + [half, 0], 0.12 * ry, 0.12 * ry), hz + 4e-3, GLASSES, (20, 20, 25), (1, 2, 17), garment="glasses")
    if app.hat is not None:
        t = np.linspace(np.pi, 2 * np.pi, 9)
        dome = head + [0, -0.25 * ry] + np.stack([1.08 * rx * np.cos(t), 0.85 * ry * np.sin(t)], 1)
        brim = head + [0.6 * rx * sin_yaw, -0.25 * ry]  # the peak points where the face looks
        pts = np.concatenate([dome, [brim + [1.3 * rx, 0.1 * ry], brim + [-1.3 * rx, 0.1 * ry]]])
        add("poly", tuple(pts.ravel().tolist()), hz + 5e-3, HAT, COLOURS[app.hat], (), garment="hat")


def _carried(app: Appearance, pt: np.ndarray, ex: Extra, z: np.ndarray, cos_yaw: float, sin_yaw: float, s: float, torso_z: float, add: Adder) -> None:
    """Backpack, handbag or shoulder bag, and an object held in front: not part of the person."""
    if app.backpack is not None:
        back, back_z = ex["back"]
        w = 0.085 * s * abs(cos_yaw) + 0.06 * s * abs(sin_yaw)
        add("ellipse", _box(back, w, 0.12 * s), back_z, 0, COLOURS[app.backpack], garment="backpack")
    if app.bag != "none":
        side = 0 if (app.bag_colour < app.upper_colour) else 1  # fixed per identity
        colour = COLOURS[app.bag_colour]
        if app.bag == "handbag":
            anchor, anchor_z = pt[9 + side], z[9 + side] + 0.03
            centre = anchor + [0, 0.07 * s]
            add("poly", _quad(anchor + [0, 0.02 * s], centre + [0, 0.05 * s], 0.05 * s, 0.06 * s), anchor_z, 0, colour, garment="bag")
        else:
            centre, anchor_z = ex["bag_" + "lr"[side]]
            strap_from = pt[6 - side]
            add("poly", capsule(strap_from, centre, 0.008 * s, 0.008 * s), torso_z + 0.015, 0, colour, garment="bag")
            add("poly", _quad(centre + [0, -0.04 * s], centre + [0, 0.05 * s], 0.06 * s * max(abs(cos_yaw), 0.4), 0.06 * s * max(abs(cos_yaw), 0.4)), anchor_z + 0.02, 0, colour, garment="bag")
    if app.holding:
        centre = (pt[9] + pt[10]) / 2
        add("poly", _quad(centre + [0, -0.04 * s], centre + [0, 0.03 * s], 0.05 * s, 0.05 * s), (z[9] + z[10]) / 2 + 0.03, 0, (150, 110, 70))
