"""Difficulty knobs: what keeps the synthetic tasks from being solved by a colour histogram."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Difficulty:
    """Probabilities and densities, each in [0, 1].

    Attributes:
        shared_garments: chance that an identity wears the outfit of its group of four ids.
        near_duplicates: fraction of ReID gallery distractors that copy a test identity with one
            detail changed (shoe colour, bag, hair...).
        occlusion: chance that a crop is partly hidden by an object; in scenes, how densely
            people are packed (more overlap).
        clutter: density of objects in the backgrounds (buildings, poles, trees, cars).
    """

    shared_garments: float = 0.3
    near_duplicates: float = 0.5
    occlusion: float = 0.3
    clutter: float = 0.5

    def __post_init__(self) -> None:
        for name in ("shared_garments", "near_duplicates", "occlusion", "clutter"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Difficulty.{name} must be in [0, 1], got {value}")


DEFAULT = Difficulty()
