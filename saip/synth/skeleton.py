"""An articulated 3-D stick body on the COCO-17 skeleton, posed from a prior and projected to 2-D.

Why 3-D: limbs that swing towards the camera shorten in the image, side views hide the far
shoulder and hip, and whole-body points (face, hands, feet) follow the same rotation, which a 2-D
puppet cannot give. Coordinates are in statures (an adult is about 1.0 tall): x to the person's
left, y down, z towards the camera at yaw 0; the projection is orthographic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saip.synth.appearance import Appearance
from saip.synth.sampling import pick

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
# 1-based pairs, as in the COCO person category.
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14),
    (14, 12),
    (17, 15),
    (15, 13),
    (12, 13),
    (6, 12),
    (7, 13),
    (6, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (9, 11),
    (2, 3),
    (1, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (5, 7),
)
# COCO-WholeBody's 133 points: body 17, feet 6, face 68, left hand 21, right hand 21.
BODY, FEET, FACE, LHAND, RHAND = slice(0, 17), slice(17, 23), slice(23, 91), slice(91, 112), slice(112, 133)
NUM_WHOLEBODY = 133
VIEWS = ("front", "side", "back")
POSES = ("standing", "walking", "sitting")


def _face_template() -> np.ndarray:
    """The 68 iBUG face points (u, v) on a unit face, u to the person's left, v down: [68, 2]."""
    t = np.linspace(0.0, np.pi, 17)
    jaw = np.stack([-0.95 * np.cos(t), 0.1 + 0.85 * np.sin(t)], 1)
    brow = np.stack([np.linspace(-0.75, -0.15, 5), -0.38 - 0.08 * np.sin(np.linspace(0, np.pi, 5))], 1)
    nose = np.concatenate(
        [
            np.stack([np.zeros(4), np.linspace(-0.25, 0.2, 4)], 1),
            np.stack([np.linspace(-0.2, 0.2, 5), np.full(5, 0.3)], 1),
        ]
    )
    a6 = np.linspace(np.pi, -np.pi, 6, endpoint=False)
    eye = np.stack([0.15 * np.cos(a6), 0.07 * np.sin(a6)], 1)
    a12, a8 = np.linspace(np.pi, -np.pi, 12, endpoint=False), np.linspace(np.pi, -np.pi, 8, endpoint=False)
    mouth = np.concatenate(
        [
            np.stack([0.35 * np.cos(a12), 0.55 + 0.12 * np.sin(a12)], 1),
            np.stack([0.22 * np.cos(a8), 0.55 + 0.05 * np.sin(a8)], 1),
        ]
    )
    right_brow = brow * [-1, 1]
    return np.concatenate(
        [
            jaw,
            brow,
            right_brow[::-1],
            nose,
            eye + [-0.4, -0.15],
            eye * [-1, 1] + [0.4, -0.15],
            mouth,
        ]
    )


_FACE_UV = _face_template()


@dataclass(frozen=True)
class Pose:
    """Joint angles (radians) drawn from the pose prior; side index 0 is left, 1 is right."""

    kind: str
    arm_abduction: tuple[float, float]
    arm_swing: tuple[float, float]
    elbow_flex: tuple[float, float]
    leg_abduction: tuple[float, float]
    leg_swing: tuple[float, float]
    knee_bend: tuple[float, float]
    yaw: float
    roll: float


def sample_pose(rng: np.random.Generator, app: Appearance, view: str | None = None) -> Pose:
    """Draw a standing, walking or sitting pose and a viewpoint (front, side or back)."""
    deg = np.pi / 180
    kind = pick(rng, POSES, (0.4, 0.5, 0.1))
    if kind == "walking":
        phase, amp = rng.uniform(0, 2 * np.pi), rng.uniform(15, 30) * deg
        legs = (amp * np.sin(phase), -amp * np.sin(phase))
        knees = tuple(5 * deg + 0.9 * max(0.0, -s) for s in legs)
        arms = (-0.9 * legs[0], -0.9 * legs[1])
        flex = tuple(rng.uniform(10, 35, 2) * deg)
        leg_abd = tuple(rng.uniform(1, 4, 2) * deg)
    elif kind == "sitting":
        thigh = rng.uniform(70, 90) * deg
        legs = (thigh, thigh + rng.uniform(-5, 5) * deg)
        knees = tuple(s - rng.uniform(-10, 10) * deg for s in legs)
        arms = tuple(rng.uniform(5, 20, 2) * deg)
        flex = tuple(rng.uniform(40, 70, 2) * deg)
        leg_abd = tuple(rng.uniform(3, 10, 2) * deg)
    else:
        legs = tuple(rng.normal(0, 4, 2) * deg)
        knees = tuple(rng.uniform(0, 8, 2) * deg)
        arms = tuple(rng.normal(0, 8, 2) * deg)
        flex = tuple(rng.uniform(0, 25, 2) * deg)
        leg_abd = tuple(rng.uniform(2, 8, 2) * deg)
        if rng.random() < 0.2:  # one arm raised: phone at the ear, a wave
            side = int(rng.integers(2))
            arms = tuple(30 * deg if i == side else a for i, a in enumerate(arms))
            flex = tuple(120 * deg if i == side else f for i, f in enumerate(flex))
    if app.holding:  # both forearms forward, holding something in front of the chest
        arms, flex = (10 * deg, 10 * deg), (75 * deg, 75 * deg)
    view = view or pick(rng, VIEWS, (0.4, 0.3, 0.3))
    base = {"front": 0.0, "back": np.pi, "side": np.pi / 2 * (1 if rng.random() < 0.5 else -1)}[view]
    return Pose(
        kind=kind,
        arm_abduction=tuple(rng.uniform(4, 14, 2) * deg),
        arm_swing=tuple(float(a) for a in arms),
        elbow_flex=tuple(float(f) for f in flex),
        leg_abduction=tuple(float(a) for a in leg_abd),
        leg_swing=tuple(float(s) for s in legs),
        knee_bend=tuple(float(k) for k in knees),
        yaw=float(base + rng.normal(0, 15 * deg)),
        roll=float(rng.normal(0, 2 * deg)),
    )


def view_of(yaw: float) -> str:
    """PA-100K's viewpoint label for a yaw angle."""
    c = np.cos(yaw)
    return "front" if c > 0.5 else "back" if c < -0.5 else "side"


@dataclass(frozen=True)
class Body:
    """A posed body projected to 2-D, in statures, feet on y = 0, body centred on x = 0.

    Attributes:
        points: [133, 2] COCO-WholeBody points (x, y) in the image plane.
        depth: [133] distance towards the camera (larger is nearer).
        facing: [133] False where the point is on the far side of the head or torso.
        extra: named construction points [2] and their depths (head, neck, hips, hand tips, ...).
        sizes: named lengths (head radii, limb radii, torso half widths), already projected.
    """

    points: np.ndarray
    depth: np.ndarray
    facing: np.ndarray
    extra: dict[str, tuple[np.ndarray, float]]
    sizes: dict[str, float]
    yaw: float


def _direction(side: float, abduction: float, swing: float) -> np.ndarray:
    return np.array(
        [side * np.sin(abduction), np.cos(abduction) * np.cos(swing), np.cos(abduction) * np.sin(swing)]
    )


def _hand_template() -> np.ndarray:
    """Hand points [21, 3] as multiples of the hand length along (forearm direction d, palm
    lateral e, towards the camera z): wrist, then thumb, index, middle, ring, pinky (4 joints each)."""
    rows = [(0.0, 0.0, 0.0)]
    rows += [(0.15 + 0.2 * k, -0.2025 - 0.12 * k, 0.09) for k in range(4)]  # thumb, from the palm's side
    for f, offset in enumerate((-0.35, -0.1, 0.15, 0.4)):
        finger = 0.5 - 0.08 * abs(f - 1)  # the middle finger is the longest
        rows += [(0.5 + k / 3 * finger, 0.45 * offset, 0.0) for k in range(4)]
    return np.array(rows)


_HAND = _hand_template()


def _hand(wrist: np.ndarray, d: np.ndarray, side: float, length: float) -> np.ndarray:
    """21 hand points [21, 3] of a hand continuing the forearm direction `d` from `wrist`."""
    e = np.array([d[1], -d[0], 0.0])
    e = e / (np.linalg.norm(e) + 1e-9) * side
    return wrist + length * (_HAND @ np.stack([d, e, np.array([0.0, 0.0, 1.0])]))


def _joints(app: Appearance, pose: Pose) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
    """Forward kinematics in the body frame: the 133 points [133, 3], construction points and
    body dimensions (statures). Proportions follow the usual canon: an adult is ~7.5 heads."""
    s, b = app.height, app.build
    child = app.age == "child"
    head_h = (0.16 if child else 0.13) * s
    rx, ry, rz = 0.38 * head_h, 0.5 * head_h, 0.42 * head_h
    sw = (0.10 if app.female else 0.11) * b * s
    hw = (0.095 if app.female else 0.085) * b * s
    sh_y = -0.30 * s
    head_c = np.array([0.0, sh_y - 0.05 * s - 0.5 * head_h, 0.0])
    arm1, arm2, hand_l = 0.17 * s, 0.15 * s, 0.075 * s
    leg1, leg2 = (0.22 if child else 0.245) * s, (0.22 if child else 0.245) * s

    pts = np.zeros((133, 3))
    extra: dict[str, np.ndarray] = {"head": head_c, "neck": np.array([0.0, sh_y - 0.03 * s, 0.0])}
    fx, fy = _FACE_UV[:, 0] * rx, _FACE_UV[:, 1] * ry
    pts[FACE] = head_c + np.stack([fx, fy, rz * np.sqrt(np.clip(1 - 0.85 * _FACE_UV[:, 0] ** 2, 0, 1))], 1)
    pts[0] = head_c + [0, 0.1 * ry, rz]
    pts[1], pts[2] = head_c + [0.4 * rx, -0.15 * ry, 0.85 * rz], head_c + [-0.4 * rx, -0.15 * ry, 0.85 * rz]
    pts[3], pts[4] = head_c + [rx, 0, -0.1 * rz], head_c + [-rx, 0, -0.1 * rz]
    for i, side in enumerate((1.0, -1.0)):
        shoulder = np.array([side * sw, sh_y, 0.0])
        elbow = shoulder + arm1 * _direction(side, pose.arm_abduction[i], pose.arm_swing[i])
        d_fore = _direction(side, 0.7 * pose.arm_abduction[i], pose.arm_swing[i] + pose.elbow_flex[i])
        wrist = elbow + arm2 * d_fore
        hip = np.array([side * hw, 0.0, 0.0])
        knee = hip + leg1 * _direction(side, pose.leg_abduction[i], pose.leg_swing[i])
        ankle = knee + leg2 * _direction(
            side, 0.5 * pose.leg_abduction[i], pose.leg_swing[i] - pose.knee_bend[i]
        )
        pts[5 + i], pts[7 + i], pts[9 + i] = shoulder, elbow, wrist
        pts[11 + i], pts[13 + i], pts[15 + i] = hip, knee, ankle
        foot = 3 * i
        pts[17 + foot] = ankle + [-side * 0.012 * s, 0.035 * s, 0.10 * s]  # big toe
        pts[18 + foot] = ankle + [side * 0.025 * s, 0.035 * s, 0.08 * s]  # small toe
        pts[19 + foot] = ankle + [0.0, 0.04 * s, -0.03 * s]  # heel
        pts[LHAND if i == 0 else RHAND] = _hand(wrist, d_fore, side, hand_l)
        extra["hand_tip_" + "lr"[i]] = wrist + hand_l * d_fore
    extra["hips"] = (pts[11] + pts[12]) / 2
    extra["shoulders"] = (pts[5] + pts[6]) / 2
    extra["back"] = extra["shoulders"] * 0.55 + extra["hips"] * 0.45 + [0, 0, -0.07 * b * s]
    extra["bag_l"] = pts[11] + [0.06 * b * s, -0.01 * s, 0.0]  # a shoulder bag hangs at the hip
    extra["bag_r"] = pts[12] + [-0.06 * b * s, -0.01 * s, 0.0]
    return pts, extra, {"rx": rx, "ry": ry, "rz": rz, "sw": sw, "hw": hw}


def build_body(app: Appearance, pose: Pose) -> Body:
    """Forward kinematics from joint angles, then yaw, orthographic projection and roll."""
    pts, extra, dims = _joints(app, pose)
    s, b = app.height, app.build
    rx, ry, rz, sw, hw = dims["rx"], dims["ry"], dims["rz"], dims["sw"], dims["hw"]
    names = list(extra)
    allp = np.concatenate([pts, np.stack([extra[n] for n in names])])
    allp[:, 1] -= allp[[19, 22], 1].max()  # heels on the ground
    cy, sy = np.cos(pose.yaw), np.sin(pose.yaw)
    x = allp[:, 0] * cy + allp[:, 2] * sy
    z = -allp[:, 0] * sy + allp[:, 2] * cy
    cr, sr = np.cos(pose.roll), np.sin(pose.roll)
    xy = np.stack([x * cr - allp[:, 1] * sr, x * sr + allp[:, 1] * cr], 1)

    rel = z[:133] - z[133 + names.index("head")]
    facing = np.ones(133, dtype=bool)
    facing[FACE] = rel[FACE] > 0.15 * rz
    facing[[0, 1, 2]] = rel[[0, 1, 2]] > 0.15 * rz
    facing[[3, 4]] = rel[[3, 4]] > -0.5 * rz
    facing[[5, 6, 11, 12]] = z[[5, 6, 11, 12]] > -0.6 * sw
    ac, asn = abs(cy), abs(sy)
    sizes = {
        "head_rx": rx * ac + rz * asn,
        "head_ry": ry,
        "head_rz": rz,
        "stature": s,
        "shoulder_w": sw * ac + 0.06 * b * s * asn,
        "hip_w": hw * ac + 0.055 * b * s * asn,
        "arm_r": 0.028 * b * s,
        "fore_r": 0.022 * b * s,
        "thigh_r": 0.05 * b * s,
        "shin_r": 0.034 * b * s,
        "neck_r": 0.024 * s,
        "hand_r": 0.02 * s,
    }
    return Body(
        points=xy[:133],
        depth=z[:133],
        facing=facing,
        extra={n: (xy[133 + k], float(z[133 + k])) for k, n in enumerate(names)},
        sizes=sizes,
        yaw=pose.yaw,
    )
