"""Label sets from the app's ``-c labels`` option."""

from __future__ import annotations

import pytest

from msklabel.labeling.labelset import KNEE_STRUCTURES, LabelSet
from msklabel.labels import KneeLabel, SpineLabel


def test_default_is_the_knee_structures_with_their_values():
    labelset = LabelSet.parse(None)
    assert labelset.names == list(KNEE_STRUCTURES)
    assert labelset.value("Femur") == KneeLabel.FEMUR
    assert labelset.value("lateral_meniscus") == KneeLabel.LATERAL_MENISCUS
    assert "muscle" not in labelset


def test_names_of_a_known_set_take_its_values():
    labelset = LabelSet.parse("l4_l5, l5, spinal_canal")
    assert labelset.values == {
        "l4_l5": SpineLabel.L4_L5, "l5": SpineLabel.L5, "spinal_canal": SpineLabel.SPINAL_CANAL,
    }  # fmt: skip
    assert labelset.structures()[SpineLabel.L5] == "l5"


def test_unknown_names_are_numbered_and_explicit_values_kept():
    assert LabelSet.parse("rotator,labrum").values == {"rotator": 1, "labrum": 2}
    assert LabelSet.parse("disc=7,body=3").values == {"disc": 7, "body": 3}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("femur,femur", "named twice"),
        ("a=1,b", "every label"),
        ("a=1,b=1", "distinct"),
        ("", "at least one"),
    ],
)
def test_bad_label_sets_are_refused(text, problem):
    with pytest.raises(ValueError, match=problem):
        LabelSet.parse(text)


def test_unknown_label_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: femur, tibia"):
        LabelSet.parse("femur,tibia").value("fibula")
