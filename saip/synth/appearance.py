"""Identity appearance: the fixed parameters that make a synthetic person recognisable.

Why a small named colour palette: identities then collide on colours and garments the way real
pedestrians do (many people wear black trousers), so re-identification needs more than a colour
histogram, and every colour has a word for the captions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from saip.synth.difficulty import Difficulty
from saip.synth.sampling import pick

# Named colours (RGB); the weights make dark, neutral garments common, as in street scenes.
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (28, 28, 30),
    "white": (232, 232, 228),
    "grey": (128, 128, 132),
    "red": (190, 35, 40),
    "blue": (40, 80, 180),
    "navy": (30, 40, 90),
    "green": (50, 140, 60),
    "yellow": (225, 200, 50),
    "orange": (230, 120, 30),
    "pink": (230, 140, 170),
    "purple": (120, 60, 150),
    "brown": (110, 70, 40),
    "beige": (200, 180, 140),
}
_GARMENT_WEIGHTS = (6.0, 4.0, 4.0, 2.0, 3.0, 3.0, 1.5, 1.0, 1.0, 1.5, 1.0, 2.0, 1.5)
SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (245, 215, 190),
    (230, 190, 160),
    (205, 160, 125),
    (170, 120, 85),
    (120, 80, 55),
    (85, 55, 40),
)
HAIR_COLOURS = ("black", "brown", "beige", "grey", "yellow", "orange")
HAIR_STYLES = ("short", "long", "bald", "ponytail", "bun")
UPPER_TYPES = ("tshirt", "shirt", "sweater", "coat", "dress", "jumpsuit")
ONE_PIECE_LEGS = {"dress": "dress", "jumpsuit": "trousers"}  # the lower garment is not worn under these
UPPER_PATTERNS = ("solid", "stripes", "checks", "print", "splice")
LOWER_TYPES = ("trousers", "shorts", "skirt")
LOWER_PATTERNS = ("solid", "stripes", "pattern")
BAGS = ("none", "handbag", "shoulderbag")
AGES = ("child", "adult", "senior")

# PA-100K's 26 attributes, in the order of its annotation.mat.
PA100K_ATTRIBUTES: tuple[str, ...] = (
    "Female",
    "AgeOver60",
    "Age18-60",
    "AgeLess18",
    "Front",
    "Side",
    "Back",
    "Hat",
    "Glasses",
    "HandBag",
    "ShoulderBag",
    "Backpack",
    "HoldObjectsInFront",
    "ShortSleeve",
    "LongSleeve",
    "UpperStride",
    "UpperLogo",
    "UpperPlaid",
    "UpperSplice",
    "LowerStripe",
    "LowerPattern",
    "LongCoat",
    "Trousers",
    "Shorts",
    "Skirt&Dress",
    "boots",
)


@dataclass(frozen=True)
class Appearance:
    """Everything fixed for one identity; pose, view, camera and background vary per image."""

    female: bool
    age: str
    height: float  # stature relative to an adult (child about 0.7)
    build: float  # width factor of shoulders, hips and limbs
    skin: tuple[int, int, int]
    hair_style: str
    hair_colour: str
    upper_type: str  # a jumpsuit covers torso and legs like trousers
    sleeve: str  # "short" or "long"
    upper_colour: str
    upper_colour2: str  # second colour of stripes, checks, print or splice
    upper_pattern: str
    lower_type: str  # ignored under a dress or jumpsuit
    lower_colour: str
    lower_colour2: str
    lower_pattern: str
    shoe_colour: str
    boots: bool
    socks: str | None  # sock colour, None without (or hidden by trousers, a jumpsuit or boots)
    hat: str | None  # hat colour, None without hat
    scarf: str | None
    gloves: str | None
    glasses: bool
    backpack: str | None
    bag: str  # one of BAGS
    bag_colour: str
    holding: bool  # holds an object in front (PA-100K HoldObjectsInFront)


def _colour(rng: np.random.Generator, avoid: str | None = None) -> str:
    weights = tuple(0.0 if name == avoid else w for name, w in zip(COLOURS, _GARMENT_WEIGHTS, strict=True))
    return pick(rng, list(COLOURS), weights)


def legwear(upper_type: str, lower_type: str) -> str:
    """What covers the legs: trousers, shorts, a skirt or a dress (a jumpsuit's legs are trousers)."""
    return ONE_PIECE_LEGS.get(upper_type, lower_type)


def _maybe_colour(rng: np.random.Generator, p: float) -> str | None:
    """A colour with probability `p`, else None (an optional accessory)."""
    return _colour(rng) if rng.random() < p else None


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Draw one identity from the appearance prior (all randomness from `rng`)."""
    female = bool(rng.random() < 0.5)
    age = pick(rng, AGES, (0.08, 0.8, 0.12))
    height = {"child": 0.72, "adult": 1.0, "senior": 0.96}[age] * float(rng.uniform(0.92, 1.08))
    upper_type = pick(rng, UPPER_TYPES, (0.35, 0.2, 0.2, 0.15, 0.1 if female else 0.0, 0.05))
    lower_type = pick(rng, LOWER_TYPES, (0.65, 0.2, 0.15 if female else 0.0))
    upper_colour = _colour(rng)
    lower_colour = _colour(rng)
    cold = upper_type in ("coat", "sweater")
    boots = bool(rng.random() < (0.25 if cold else 0.08))
    shins_show = legwear(upper_type, lower_type) != "trousers" and not boots
    return Appearance(
        female=female,
        age=age,
        height=height,
        build=float(rng.uniform(0.85, 1.25)),
        skin=SKIN_TONES[int(rng.integers(len(SKIN_TONES)))],
        hair_style=pick(
            rng, HAIR_STYLES, (0.6, 0.4, 0.05, 0.2, 0.1) if female else (0.8, 0.05, 0.1, 0.0, 0.0)
        ),
        hair_colour="grey" if age == "senior" else pick(rng, HAIR_COLOURS, (6, 3, 1, 0.2, 1, 0.3)),
        upper_type=upper_type,
        sleeve="long" if cold or rng.random() < 0.35 else "short",
        upper_colour=upper_colour,
        upper_colour2=_colour(rng, avoid=upper_colour),
        upper_pattern=pick(rng, UPPER_PATTERNS, (0.55, 0.15, 0.1, 0.12, 0.08)),
        lower_type=lower_type,
        lower_colour=lower_colour,
        lower_colour2=_colour(rng, avoid=lower_colour),
        lower_pattern=pick(rng, LOWER_PATTERNS, (0.8, 0.1, 0.1)),
        shoe_colour=_colour(rng),
        boots=boots,
        socks=_maybe_colour(rng, 0.5 if shins_show else 0.0),
        hat=_maybe_colour(rng, 0.15),
        scarf=_maybe_colour(rng, 0.3 if cold else 0.05),
        gloves=_maybe_colour(rng, 0.25 if cold else 0.0),
        glasses=bool(rng.random() < 0.2),
        backpack=_maybe_colour(rng, 0.25),
        bag=pick(rng, BAGS, (0.6, 0.2, 0.2)),
        bag_colour=_colour(rng),
        holding=bool(rng.random() < 0.1),
    )


# An outfit: the garments, and what is drawn with them (cold-weather accessories, boots or the
# socks that show between shorts and shoes), so a shared outfit stays consistent.
_GARMENT_FIELDS = (
    "upper_type",
    "sleeve",
    "upper_colour",
    "upper_colour2",
    "upper_pattern",
    "lower_type",
    "lower_colour",
    "lower_colour2",
    "lower_pattern",
    "boots",
    "socks",
    "scarf",
    "gloves",
)


def sample_identity(seed: int, pid: int, difficulty: Difficulty) -> Appearance:
    """The appearance of identity `pid` of a dataset drawn with `seed`.

    With probability `difficulty.shared_garments` the identity wears the outfit of its group of
    four (ids 4k..4k+3 share one donor outfit), so some different people dress alike.
    """
    rng = np.random.default_rng([seed, 11, pid])
    app = sample_appearance(rng)
    if rng.random() < difficulty.shared_garments:
        donor = sample_appearance(np.random.default_rng([seed, 12, pid // 4]))
        app = dataclasses.replace(app, **{f: getattr(donor, f) for f in _GARMENT_FIELDS})
    return app


def near_duplicate(app: Appearance, rng: np.random.Generator) -> Appearance:
    """Another person who differs from `app` in one detail only (a hard distractor)."""
    change = int(rng.integers(5))
    if change == 0:
        return dataclasses.replace(app, shoe_colour=_colour(rng, avoid=app.shoe_colour))
    if change == 1:
        return dataclasses.replace(app, lower_colour=_colour(rng, avoid=app.lower_colour))
    if change == 2:
        return dataclasses.replace(app, hair_style="long" if app.hair_style != "long" else "short")
    if change == 3:
        return dataclasses.replace(app, backpack=None if app.backpack else _colour(rng))
    return dataclasses.replace(app, upper_pattern="solid" if app.upper_pattern != "solid" else "stripes")


def attributes(app: Appearance, view: str) -> np.ndarray:
    """PA-100K's 26 binary labels [26] (uint8) for `app` seen from `view` (front/side/back)."""
    own_lower = app.upper_type not in ONE_PIECE_LEGS
    lower = legwear(app.upper_type, app.lower_type)
    values = {
        "Female": app.female,
        "AgeOver60": app.age == "senior",
        "Age18-60": app.age == "adult",
        "AgeLess18": app.age == "child",
        "Front": view == "front",
        "Side": view == "side",
        "Back": view == "back",
        "Hat": app.hat is not None,
        "Glasses": app.glasses,
        "HandBag": app.bag == "handbag",
        "ShoulderBag": app.bag == "shoulderbag",
        "Backpack": app.backpack is not None,
        "HoldObjectsInFront": app.holding,
        "ShortSleeve": app.sleeve == "short",
        "LongSleeve": app.sleeve == "long",
        "UpperStride": app.upper_pattern == "stripes",
        "UpperLogo": app.upper_pattern == "print",
        "UpperPlaid": app.upper_pattern == "checks",
        "UpperSplice": app.upper_pattern == "splice",
        "LowerStripe": own_lower and app.lower_pattern == "stripes",
        "LowerPattern": own_lower and app.lower_pattern == "pattern",
        "LongCoat": app.upper_type == "coat",
        "Trousers": lower == "trousers",
        "Shorts": lower == "shorts",
        "Skirt&Dress": lower in ("skirt", "dress"),
        "boots": app.boots,
    }
    return np.array([values[name] for name in PA100K_ATTRIBUTES], dtype=np.uint8)
