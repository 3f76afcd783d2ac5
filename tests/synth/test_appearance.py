"""Appearance prior, identities, difficulty knobs, PA-100K attributes and captions."""

import dataclasses

import numpy as np
import pytest

from saip.synth.appearance import (
    PA100K_ATTRIBUTES,
    Appearance,
    attributes,
    legwear,
    near_duplicate,
    sample_appearance,
    sample_identity,
)
from saip.synth.caption import captions, tokens
from saip.synth.difficulty import Difficulty
from saip.synth.sampling import pick

BASE = Appearance(
    female=True,
    age="adult",
    height=1.0,
    build=1.0,
    skin=(200, 160, 120),
    hair_style="long",
    hair_colour="black",
    upper_type="coat",
    sleeve="long",
    upper_colour="red",
    upper_colour2="white",
    upper_pattern="checks",
    lower_type="skirt",
    lower_colour="black",
    lower_colour2="grey",
    lower_pattern="stripes",
    shoe_colour="black",
    boots=True,
    socks=None,
    hat="blue",
    scarf=None,
    gloves=None,
    glasses=False,
    backpack=None,
    bag="handbag",
    bag_colour="brown",
    holding=False,
)


def test_attributes_hand_checked() -> None:
    labels = dict(zip(PA100K_ATTRIBUTES, attributes(BASE, "side").tolist(), strict=True))
    on = {name for name, v in labels.items() if v}
    assert len(PA100K_ATTRIBUTES) == 26
    assert on == {
        "Female",
        "Age18-60",
        "Side",
        "Hat",
        "HandBag",
        "LongSleeve",
        "UpperPlaid",
        "LowerStripe",
        "LongCoat",
        "Skirt&Dress",
        "boots",
    }


def test_dress_hides_the_lower_garment() -> None:
    dress = dataclasses.replace(BASE, upper_type="dress", lower_type="trousers")
    labels = dict(zip(PA100K_ATTRIBUTES, attributes(dress, "front").tolist(), strict=True))
    assert labels["Skirt&Dress"] == 1 and labels["Trousers"] == 0 and labels["LowerStripe"] == 0


def test_jumpsuit_counts_as_trousers() -> None:
    jumpsuit = dataclasses.replace(BASE, upper_type="jumpsuit", lower_type="skirt")
    labels = dict(zip(PA100K_ATTRIBUTES, attributes(jumpsuit, "front").tolist(), strict=True))
    assert labels["Trousers"] == 1 and labels["Skirt&Dress"] == 0 and labels["Shorts"] == 0
    assert labels["LongCoat"] == 0 and labels["LowerStripe"] == 0


def test_accessories_follow_the_garments() -> None:
    """Gloves only with a coat or sweater; socks only where the shins show (no trousers, boots),
    also when an identity wears its group's outfit."""
    rng = np.random.default_rng(1)
    apps = [sample_appearance(rng) for _ in range(1000)]
    shared = [sample_identity(0, pid, Difficulty(shared_garments=1.0)) for pid in range(200)]
    for app in apps + shared:
        if app.gloves is not None:
            assert app.upper_type in ("coat", "sweater")
        if app.socks is not None:
            assert legwear(app.upper_type, app.lower_type) != "trousers" and not app.boots
    for field in ("scarf", "gloves", "socks"):
        assert 0 < sum(getattr(a, field) is not None for a in apps) < 300
    assert 0 < sum(a.upper_type == "jumpsuit" for a in apps) < 100


def test_identity_is_a_pure_function_of_seed_and_id() -> None:
    d = Difficulty()
    assert sample_identity(1, 5, d) == sample_identity(1, 5, d)
    assert sample_identity(1, 5, d) != sample_identity(2, 5, d)


def test_shared_garments_make_groups_dress_alike() -> None:
    d = Difficulty(shared_garments=1.0)
    group = [sample_identity(0, pid, d) for pid in range(4, 8)]
    assert len({(a.upper_type, a.upper_colour, a.lower_type, a.lower_colour) for a in group}) == 1
    assert len({(a.skin, a.hair_style, a.build) for a in group}) > 1  # still different people


def test_near_duplicate_changes_one_field() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        app = sample_appearance(rng)
        twin = near_duplicate(app, rng)
        changed = [f.name for f in dataclasses.fields(app) if getattr(app, f.name) != getattr(twin, f.name)]
        assert len(changed) == 1


@pytest.mark.parametrize("field", ["shared_garments", "near_duplicates", "occlusion", "clutter"])
def test_difficulty_rejects_out_of_range(field: str) -> None:
    with pytest.raises(ValueError):
        Difficulty(**{field: 1.5})


def test_captions_describe_the_appearance() -> None:
    texts = captions(BASE, np.random.default_rng(0))
    assert len(texts) == 2 and texts[0] != texts[1]
    for text in texts:
        words = set(tokens(text))
        assert {"woman", "red", "coat", "handbag", "long"} <= words
    assert tokens("A red T-shirt.") == ["a", "red", "t-shirt"]


def test_captions_name_jumpsuit_scarf_gloves_and_socks() -> None:
    app = dataclasses.replace(
        BASE, upper_type="jumpsuit", scarf="green", gloves="grey", socks="pink", boots=False
    )
    words = set(tokens(" ".join(captions(app, np.random.default_rng(0), count=3))))
    assert {"jumpsuit", "scarf", "green", "gloves", "grey", "socks", "pink"} <= words
    assert "skirt" not in words  # the lower garment is not worn under a jumpsuit


def test_pick_follows_weights_and_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    assert {pick(rng, "ab", (0.0, 1.0)) for _ in range(50)} == {"b"}
    draws = [pick(rng, (0, 1, 2), (1.0, 1.0, 2.0)) for _ in range(4000)]
    assert abs(draws.count(2) / 4000 - 0.5) < 0.05
    with pytest.raises(ValueError):
        pick(rng, "ab", (1.0,))
    with pytest.raises(ValueError):
        pick(rng, "ab", (0.0, 0.0))
