"""Short captions written from appearance parameters (for text-to-person retrieval)."""

from __future__ import annotations

import re

import numpy as np

from saip.synth.appearance import ONE_PIECE_LEGS, Appearance

_UPPER = {
    "tshirt": "t-shirt",
    "shirt": "shirt",
    "sweater": "sweater",
    "coat": "long coat",
    "dress": "dress",
    "jumpsuit": "jumpsuit",
}
_PATTERN = {
    "solid": "",
    "stripes": " with {c2} stripes",
    "checks": " with a {c2} check pattern",
    "print": " with a {c2} print",
    "splice": " with a {c2} lower half",
}
_HAIR = {
    "short": "short {c} hair",
    "long": "long {c} hair",
    "bald": "a shaved head",
    "ponytail": "{c} hair in a ponytail",
    "bun": "{c} hair in a bun",
}


def _person(app: Appearance) -> tuple[str, str]:
    if app.age == "child":
        return ("girl", "she") if app.female else ("boy", "he")
    noun = ("woman", "she") if app.female else ("man", "he")
    return ("elderly " + noun[0], noun[1]) if app.age == "senior" else noun


def _garments(app: Appearance) -> list[str]:
    sleeve = "" if app.upper_type in ("coat", "sweater", "dress") else f"{app.sleeve}-sleeved "
    pattern = _PATTERN[app.upper_pattern].format(c2=app.upper_colour2)
    parts = [f"a {app.upper_colour} {sleeve}{_UPPER[app.upper_type]}{pattern}"]
    if app.upper_type not in ONE_PIECE_LEGS:
        article = "a " if app.lower_type == "skirt" else ""
        parts.append(f"{article}{app.lower_colour} {app.lower_type}")
    if app.scarf:
        parts.append(f"a {app.scarf} scarf")
    if app.gloves:
        parts.append(f"{app.gloves} gloves")
    if app.socks:
        parts.append(f"{app.socks} socks")
    parts.append(f"{app.shoe_colour} {'boots' if app.boots else 'shoes'}")
    return parts


def _extras(app: Appearance) -> list[str]:
    extras = []
    if app.hat:
        extras.append(f"a {app.hat} hat")
    if app.glasses:
        extras.append("glasses")
    if app.backpack:
        extras.append(f"a {app.backpack} backpack")
    if app.bag != "none":
        extras.append(f"a {app.bag_colour} {'handbag' if app.bag == 'handbag' else 'shoulder bag'}")
    return extras


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def captions(app: Appearance, rng: np.random.Generator, count: int = 2) -> list[str]:
    """`count` differently worded descriptions of `app` (CUHK-PEDES has two per image)."""
    noun, pronoun = _person(app)
    hair = _HAIR[app.hair_style].format(c=app.hair_colour)
    garments, extras = _garments(app), _extras(app)
    templates = [
        lambda: (
            f"A {noun} with {hair}, wearing {_join(garments)}."
            + (f" {pronoun.capitalize()} has {_join(extras)}." if extras else "")
        ),
        lambda: (
            f"The {noun} wears {_join(garments)}"
            + (f" and carries {_join(extras)}" if extras else "")
            + f". {pronoun.capitalize()} has {hair}."
        ),
        lambda: (
            f"This {noun} has {hair} and is dressed in {_join(garments)}"
            + (f", with {_join(extras)}." if extras else ".")
        ),
    ]
    order = rng.permutation(len(templates))[:count]
    return [templates[int(k)]() for k in order]


def tokens(caption: str) -> list[str]:
    """Lower-case word tokens (CUHK-PEDES' processed_tokens)."""
    return re.findall(r"[a-z0-9\-]+", caption.lower())
