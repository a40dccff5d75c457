import numpy as np
import pytest

from msklabel.evaluation.prompts import PromptMode, next_click, oracle_boxes, simulate
from msklabel.labels import KneeLabel
from msklabel.segment import Segmentation
from msklabel.volume import Volume


def test_click_lands_in_the_centre_of_the_largest_miss():
    reference = np.zeros((2, 30, 30), bool)
    reference[1, 5:25, 5:25] = True
    predicted = reference.copy()
    predicted[1, 5:25, 5:12] = False  # a 20 x 7 miss
    predicted[1, 0:2, 0:2] = True  # a small false positive
    click = next_click(predicted, reference, 1)
    assert click is not None and click.positive
    # deepest pixels of the 7-wide strip: its middle column, rows 4 in from its ends
    assert click.column == 8 and 8 <= click.row <= 21
    assert next_click(reference, reference, 1) is None
    boxes = oracle_boxes(reference)
    assert [(b.slice, b.row_min, b.row_max) for b in boxes] == [(1, 5, 24)]


class _BoxFiller:
    """A stand-in session: a label fills its boxes and a 5 x 5 square around each positive
    click, and clears one around each negative click; records the prompts of each call."""

    def __init__(self, shape):
        self.volume = Volume(np.zeros(shape, np.float32), np.eye(4))
        self.calls = []

    def segment(self, prompts):
        self.calls.append(list(prompts))
        labels = np.zeros(self.volume.shape, np.uint8)
        for prompt in prompts:
            for box in prompt.boxes:
                rows = slice(int(box.row_min), int(box.row_max) + 1)
                columns = slice(int(box.column_min), int(box.column_max) + 1)
                labels[box.slice, rows, columns] = prompt.label
            for p in prompt.points:
                square = (p.slice, slice(int(p.row) - 2, int(p.row) + 3),
                          slice(int(p.column) - 2, int(p.column) + 3))  # fmt: skip
                labels[square] = prompt.label if p.positive else 0
        return Segmentation(self.volume.with_array(labels), {})


def test_modes_parse_and_refuse_bad_text():
    assert str(PromptMode.parse("box+clicks:2")) == "box+clicks:2"
    assert PromptMode.parse("clicks:3") == PromptMode("clicks", 3)
    bad = {"clicks": "needs a number", "oracle-box:2": "takes no number",
           "lasso": "unknown prompt mode", "clicks:x": "cannot read"}  # fmt: skip
    for text, message in bad.items():
        with pytest.raises(ValueError, match=message):
            PromptMode.parse(text)


def test_simulated_clicks_correct_the_largest_error_each_round():
    reference = np.zeros((3, 30, 30), np.uint8)
    reference[1, 5:25, 5:25] = KneeLabel.FEMUR  # a 20 x 20 square on slice 1 only
    session = _BoxFiller(reference.shape)
    structures = [KneeLabel.FEMUR, KneeLabel.TIBIA]
    clicked = simulate(session, reference, structures, PromptMode("clicks", 2))
    assert len(session.calls) == 2  # one segmentation per round; the absent tibia is not prompted
    first, second = ([p.points for p in call] for call in session.calls)
    assert len(first) == 1 and len(first[0]) == 1 and first[0][0].positive
    assert first[0][0].slice == 1 and (first[0][0].row, first[0][0].column) == (14, 14)
    assert len(second[0]) == 2 and second[0][1].positive  # the rest of the square is missed
    assert (clicked.labels.array == KneeLabel.FEMUR).sum() == 50  # two 5 x 5 squares
    boxed = simulate(_BoxFiller(reference.shape), reference, [KneeLabel.FEMUR],
                     PromptMode("oracle-box"))  # fmt: skip
    assert np.array_equal(boxed.labels.array, reference)
