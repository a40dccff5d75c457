"""Clicks answered with a guide: the box around the guide's part under the click, kept where
the model's answer agrees with that part."""

from __future__ import annotations

import numpy as np

from msklabel.segment.backends.base import SliceMask
from msklabel.segment.clicks import GUIDE_MARGIN, guided_click
from msklabel.segment.prompts import Box, LabelPrompt, Point, SlicePrompt

SHAPE = (40, 50)


def _guide() -> np.ndarray:
    guide = np.zeros(SHAPE, bool)
    guide[10:30, 5:25] = True  # a bone
    guide[5:8, 30:45] = True  # another part of the same label, apart from it
    return guide


class BoxFiller:
    """A box-only model that fills its box less ``inset`` pixels on each side (a bone inside
    a box) and answers a lone click with a 3 x 3 fragment; it records what it was asked."""

    def __init__(self, inset: int = 0) -> None:
        self.inset = inset
        self.asked: list[SlicePrompt] = []

    def __call__(self, index: int, prompt: SlicePrompt) -> SliceMask:
        self.asked.append(prompt)
        logits = np.full(SHAPE, -1.0)
        if prompt.box is None:
            column, row = np.round(prompt.coordinates[0]).astype(int)
            logits[row - 1 : row + 2, column - 1 : column + 2] = 1.0
        else:
            x0, y0, x1, y1 = np.round(prompt.box).astype(int)
            i = self.inset
            logits[y0 + i : y1 - i + 1, x0 + i : x1 - i + 1] = 1.0
        return SliceMask(logits, 0.9)


def _click(row: float, column: float, box: Box | None = None) -> SlicePrompt:
    return LabelPrompt(1, points=[Point(0, row, column)], boxes=[box] if box else []).on_slice(0)


def test_a_click_on_the_guide_asks_for_the_box_around_its_part() -> None:
    model = BoxFiller(inset=int(GUIDE_MARGIN))  # answers the bone inside the margin
    answer = guided_click(0, _click(20, 12), _guide(), model)
    margin = GUIDE_MARGIN
    assert len(model.asked) == 1
    assert np.allclose(model.asked[0].box, [5 - margin, 10 - margin, 24 + margin, 29 + margin])
    bone = np.zeros(SHAPE, bool)
    bone[10:30, 5:25] = True
    assert np.array_equal(answer.mask, bone)


def test_an_answer_unlike_the_guide_falls_back_to_the_click() -> None:
    guide = np.zeros(SHAPE, bool)
    guide[10:30, 5] = True  # a thin layer: the box around it holds mostly something else
    guide[29, 5:25] = True
    model = BoxFiller()
    answer = guided_click(0, _click(20, 5), guide, model)
    assert len(model.asked) == 2 and model.asked[1].box is None
    assert answer.mask.sum() == 9  # the click's own answer


def test_a_click_off_the_guide_or_with_a_box_is_answered_as_asked() -> None:
    model = BoxFiller()
    guided_click(0, _click(35, 40), _guide(), model)  # beside both parts
    assert len(model.asked) == 1 and model.asked[0].box is None
    guided_click(0, _click(20, 12, Box(0, 1, 1, 3, 3)), _guide(), model)
    assert len(model.asked) == 2 and np.allclose(model.asked[1].box, [1, 1, 3, 3])
