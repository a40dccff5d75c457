import numpy as np

from msklabel.evaluation.prompts import next_click, oracle_boxes


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
