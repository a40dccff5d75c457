"""The shipped detector on held-out phantoms: box recall at IoU 0.5 and the Dice of
detector-prompted LiteMedSAM next to truth-box-prompted LiteMedSAM.

The issue's targets (recall >= 0.95 for bones and >= 0.90 for cartilage plates; Dice within
0.05 of the truth-box Dice for every structure) are not all met yet: they are kept as strict
expected failures, so that the day they pass the suite says so. The achieved levels are
guarded by the other tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.detect import load_detector
from msklabel.detect.automatic import default_segmenter
from msklabel.detect.evaluation import Evaluation, box_iou, evaluate
from msklabel.detect.presets import held_out_phantom
from msklabel.labels import BONES, CARTILAGE_PLATES, KneeLabel
from msklabel.segment import Box

#: Held-out phantoms: seeds and 3-4 mm slices unlike any training phantom (seeds 1-5,
#: 1-1.5 mm slices).
HELD_OUT = ((100, 3.0), (101, 4.0))


def test_box_iou_of_inclusive_pixel_boxes() -> None:
    a = Box(0, 0, 0, 9, 9)  # 10 x 10 pixels
    assert box_iou(a, a) == 1.0
    assert box_iou(a, Box(0, 0, 5, 9, 14)) == pytest.approx(50 / 150)
    assert box_iou(a, Box(0, 20, 20, 30, 30)) == 0.0


@pytest.fixture(scope="module")
def recalls() -> list[dict[KneeLabel, float]]:
    detector = load_detector()
    found = []
    for seed, spacing in HELD_OUT:
        image, truth = held_out_phantom(seed, spacing)
        boxes = evaluate(image, truth, detector).boxes
        found.append({label: score.recall for label, score in boxes.items()})
    return found


@pytest.mark.slow
def test_recall_on_held_out_phantoms(recalls) -> None:
    for recall in recalls:
        for label in (*BONES, *CARTILAGE_PLATES):
            assert recall[label] >= 0.75, (label.key, recall[label])
        assert recall[KneeLabel.FEMUR] >= 0.95


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 8 target not met yet: end slices of thin plates")
def test_recall_reaches_the_issue_targets(recalls) -> None:
    for recall in recalls:
        assert all(recall[label] >= 0.95 for label in BONES)
        assert all(recall[label] >= 0.90 for label in CARTILAGE_PLATES)


@pytest.fixture(scope="module")
def dice() -> Evaluation:
    image, truth = held_out_phantom(*HELD_OUT[0])
    # Two slices through each tibial plate and through the patella hold every structure.
    slices = set()
    for label in (
        KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
        KneeLabel.LATERAL_TIBIAL_CARTILAGE,
        KneeLabel.PATELLAR_CARTILAGE,
    ):
        held = np.flatnonzero((truth.array == label).any(axis=(1, 2)))
        middle = int(held[len(held) // 2])
        slices |= {middle, middle + 1}
    return evaluate(image, truth, load_detector(), default_segmenter(), slices=sorted(slices))


@pytest.mark.slow
def test_detector_prompted_bones_are_segmented_nearly_as_well_as_from_true_boxes(dice) -> None:
    assert len(dice.dice_oracle) == 9
    for label in BONES:
        oracle = dice.dice_oracle[label]
        assert oracle > 0.85
        assert dice.dice_detected[label] >= oracle - 0.10, (label.key, dice.dice_detected[label])


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 8 target not met yet: thin structures' Dice")
def test_every_structure_is_within_005_of_the_true_box_dice(dice) -> None:
    for label, oracle in dice.dice_oracle.items():
        assert dice.dice_detected[label] >= oracle - 0.05, label.key
