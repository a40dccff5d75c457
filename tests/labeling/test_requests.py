"""Slicer and OHIF infer requests to engine prompts."""

from __future__ import annotations

import pytest

from msklabel.labeling.labelset import LabelSet
from msklabel.labeling.requests import prompts_from_request
from msklabel.labels import KneeLabel
from msklabel.segment import Box, Box3D, Point

SHAPE = (20, 100, 120)  # slices, rows, columns
KNEE = LabelSet.parse(None)


def test_foreground_points_are_ijk_and_background_stays_on_prompted_slices():
    request = {
        "label": "tibia",
        "foreground": [[30, 40, 5]],
        "background": [[31, 41, 5], [10, 10, 9]],
        "slice": 5,
    }
    asked = prompts_from_request(request, SHAPE, KNEE)
    (prompt,) = asked.prompts
    assert asked.label_names == {"tibia": 1}
    assert prompt.label == 1 and not prompt.propagate
    assert prompt.points == (Point(5, 40.0, 30.0, True), Point(5, 41.0, 31.0, False))


def test_label_named_points_segment_each_structure_with_its_value():
    request = {"femur": [[10, 20, 3]], "tibia": [[50, 60, 4]], "patella": [], "label": "femur"}
    asked = prompts_from_request(request, SHAPE, KNEE)
    assert asked.label_names == {"femur": KneeLabel.FEMUR, "tibia": KneeLabel.TIBIA}
    assert [prompt.label for prompt in asked.prompts] == [KneeLabel.FEMUR, KneeLabel.TIBIA]
    assert asked.prompts[1].points == (Point(4, 60.0, 50.0),)


def test_roi_is_a_box_on_the_request_slice_or_over_its_slices():
    roi = [50, 10, 20, 70, 2, 6]  # Slicer may give a pair in either order
    on_slice = prompts_from_request({"roi": roi, "slice": 4}, SHAPE, KNEE).prompts[0]
    assert on_slice.boxes == (Box(4, 20.0, 10.0, 70.0, 50.0),)
    over = prompts_from_request({"roi": roi, "cur_label": "patella"}, SHAPE, KNEE)
    assert over.prompts[0].box3d == Box3D(2, 6, 20.0, 10.0, 70.0, 50.0)
    assert over.label_names == {"patella": 1}


def test_propagation_flag_reaches_the_prompt():
    asked = prompts_from_request({"roi": [1, 9, 1, 9, 3, 3]}, SHAPE, KNEE, propagate=True)
    assert asked.prompts[0].propagate and asked.prompts[0].boxes[0].slice == 3


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        ({"foreground": [[130, 5, 1]]}, "outside the image"),
        ({"foreground": [[1, 2]]}, r"\[x, y, z\]"),
        ({"foreground": "1,2,3"}, "list of"),
        ({"roi": [200, 300, 0, 5, 0, 1]}, "does not cover"),
        ({"roi": [1, 2, 3]}, "x_min, x_max"),
        ({"background": [[1, 1, 1]]}, "no foreground point and no roi"),
    ],
)
def test_malformed_requests_name_the_problem(request_, problem):
    with pytest.raises(ValueError, match=problem):
        prompts_from_request(request_, SHAPE, KNEE)
