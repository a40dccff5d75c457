"""Prompt dataclasses and their JSON form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from msklabel.errors import InputError
from msklabel.segment import Box, Box3D, LabelPrompt, Point, load_prompts, save_prompts
from msklabel.segment.intensity import Window


def test_prompts_round_trip_through_json(tmp_path):
    prompts = [
        LabelPrompt(1, boxes=[Box(3, 1, 2, 10, 20)], propagate=True),
        LabelPrompt(2, points=[Point(4, 5.5, 6, positive=False)], box3d=Box3D(1, 3, 0, 0, 9, 9)),
    ]
    save_prompts(prompts, tmp_path / "p.json")
    assert load_prompts(tmp_path / "p.json") == tuple(prompts)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"labels": [{"label": "kneecap", "boxes": []}]}, "unknown label name"),
        ({"labels": [{"label": 1}]}, "no prompt"),
        ({"labels": [{"label": 1, "points": [{"slice": 1, "row": 2}]}]}, "column"),
        ({"labels": [{"label": 1, "points": [{"slice": 1.5, "row": 2, "column": 3}]}]}, "integer"),
        ({"labels": [{"label": 1, "box": {}}]}, "unknown keys"),
        ({"version": 2, "labels": []}, "version"),
    ],
)
def test_invalid_prompt_files_name_the_problem(tmp_path, document, message):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=message):
        load_prompts(path)


def test_label_prompt_per_slice():
    mask = np.zeros((3, 8, 8), bool)
    mask[2, 2:4, 3:6] = True
    prompt = LabelPrompt(
        1, points=[Point(0, 1, 2)], boxes=[Box(1, 0, 0, 4, 4)], mask=mask, propagate=True
    )
    assert prompt.slices() == [0, 1, 2]
    assert prompt.on_slice(0).coordinates.tolist() == [[2.0, 1.0]]
    np.testing.assert_array_equal(prompt.on_slice(2).box, [3, 2, 5, 3])
    with pytest.raises(ValueError, match="outside"):
        prompt.check((3, 4, 4))
    with pytest.raises(ValueError, match="more than one box"):
        LabelPrompt(1, boxes=[Box(1, 0, 0, 1, 1)], box3d=Box3D(0, 2, 0, 0, 1, 1))


def test_robust_window_keeps_floats_without_8_bit_clipping():
    array = np.zeros((2, 10, 10), np.int16)
    array[0] = np.arange(100).reshape(10, 10) * 30 + 1000
    window = Window.robust(array)
    scaled = window.apply(array)
    assert scaled.dtype == np.float32 and len(np.unique(scaled[0])) == 100
    assert window.low > 1000 and window.high < 3970
