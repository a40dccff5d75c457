"""Box propagation: its rules on a model that answers the truth inside the box, and the Dice
of LiteMedSAM propagation from one box per bone (issue 21: femur and tibia >= 0.85)."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.data.simulation import simulate_study
from msklabel.labels import KneeLabel
from msklabel.segment import LabelPrompt
from msklabel.segment.backends.base import SliceMask
from msklabel.segment.prompts import Box, SlicePrompt
from msklabel.segment.propagate import StopRule, filled, propagate_boxes

TARGET = 0.85


def _widening(slices: int = 9) -> np.ndarray:
    """A block whose lower side moves 4 pixels per slice away from the middle slice."""
    truth = np.zeros((slices, 80, 40), bool)
    for k in range(slices):
        truth[k, 10 : 30 + 4 * abs(k - slices // 2), 10:30] = True
    return truth


def _box_model(truth: np.ndarray):
    """Answers the truth inside the box, rated by the share of the truth the box holds."""

    def predict(index: int, prompt: SlicePrompt) -> SliceMask:
        x0, y0, x1, y1 = np.round(prompt.box).astype(int)
        inside = np.zeros_like(truth[index])
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
        mask = truth[index] & inside
        return SliceMask(np.where(mask, 1.0, -1.0), mask.sum() / truth[index].sum())

    return predict


def test_a_widening_structure_is_followed_to_both_ends():
    truth = _widening()
    predict = _box_model(truth)
    middle = len(truth) // 2
    seed = predict(middle, SlicePrompt.of_box(_box(truth[middle], middle)))
    results = propagate_boxes({middle: seed}, len(truth), predict, StopRule(min_score=0.9))
    assert sorted(results) == list(range(len(truth)))
    found = np.stack([results[k].mask for k in sorted(results)])
    np.testing.assert_array_equal(found, truth)


def test_one_tight_box_loses_the_widening_part():
    truth = _widening()
    predict = _box_model(truth)
    middle = len(truth) // 2
    seed = predict(middle, SlicePrompt.of_box(_box(truth[middle], middle)))
    rule = StopRule(min_score=0.0, margins=(3.0,))
    results = propagate_boxes({middle: seed}, len(truth), predict, rule)
    assert results[0].mask.sum() < truth[0].sum()


def test_holes_are_filled_inside_the_mask():
    logits = np.full((20, 20), -1.0)
    logits[5:15, 5:15] = 2.0
    logits[9:11, 9:11] = -3.0
    result = filled(SliceMask(logits, 0.9))
    assert result.mask[5:15, 5:15].all() and result.mask.sum() == 100
    assert result.score == 0.9


def test_a_mask_growing_around_the_previous_one_continues():
    previous = np.zeros((30, 30))
    previous[10:15, 10:15] = 1.0
    grown = np.zeros((30, 30))
    grown[5:25, 5:25] = 1.0
    rule = StopRule()
    assert rule.continues(SliceMask(grown - 0.5, 0.9), SliceMask(previous - 0.5, 0.9), 25)
    shifted = np.roll(previous, 8, axis=1)
    assert not rule.continues(SliceMask(shifted - 0.5, 0.9), SliceMask(previous - 0.5, 0.9), 25)


def _box(mask: np.ndarray, index: int) -> Box:
    return Box.around(mask, index, 2.0)


def _propagated_dice(segmenter, image, truth, label, truth_box, dice) -> float:
    slices = np.flatnonzero((truth == label).any(axis=(1, 2)))
    middle = int(slices[len(slices) // 2])
    prompt = LabelPrompt(label, boxes=[truth_box(truth, label, middle)], propagate=True)
    mask = segmenter.segment(image, prompt).mask(label)
    score = dice(mask, truth == label)
    print(f"{KneeLabel(label).key}: Dice {score:.3f}")
    return score


@pytest.fixture(scope="module")
def phantom_dice(segmenter, knee_phantom, truth_box, dice) -> dict[int, float]:
    """Dice of femur and tibia on the 3 mm sagittal phantom, one box each."""
    image, truth = knee_phantom.echoes[0], knee_phantom.labels.array
    return {
        bone: _propagated_dice(segmenter, image, truth, bone, truth_box, dice)
        for bone in (KneeLabel.FEMUR, KneeLabel.TIBIA)
    }


#: Measured on the 3 mm phantom: femur 0.75, tibia 0.88 (regression floors below them).
PHANTOM_FLOORS = {KneeLabel.FEMUR: 0.72, KneeLabel.TIBIA: TARGET}


@pytest.mark.slow
def test_phantom_bones_stay_above_their_floors(phantom_dice):
    low = {bone.key: round(v, 3) for bone, v in phantom_dice.items() if v < PHANTOM_FLOORS[bone]}
    assert not low, low


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 21 target: the femur of the 3 mm phantom reaches 0.75 (0.95 on 1.2 mm)",
)
def test_phantom_femur_meets_the_target(phantom_dice):
    assert phantom_dice[KneeLabel.FEMUR] >= TARGET


@pytest.fixture(scope="module")
def held_out():
    """A reduced held-out study (clinical-1.5t, seed 5: 16 slices of 4 mm, 192 matrix)."""
    study = simulate_study("clinical-1.5t", 5, slices=16, matrix=192, echoes=1)
    return study.echoes[0], study.truth.array


@pytest.fixture(scope="module")
def held_out_dice(segmenter, held_out, truth_box, dice) -> dict[int, float]:
    image, truth = held_out
    return {
        bone: _propagated_dice(segmenter, image, truth, bone, truth_box, dice)
        for bone in (KneeLabel.FEMUR, KneeLabel.TIBIA)
    }


#: Measured on the reduced held-out study: femur 0.81, tibia 0.82.
HELD_OUT_FLOOR = 0.78


@pytest.mark.slow
def test_held_out_bones_stay_above_their_floor(held_out_dice):
    low = {bone.key: round(v, 3) for bone, v in held_out_dice.items() if v < HELD_OUT_FLOOR}
    assert not low, low


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 21 target not met on the held-out simulation: femur 0.81, tibia 0.82 on "
    "this study; full-size seed-1 studies 0.02-0.80 and 0.62-0.76 (docs/prompts.md)",
)
def test_held_out_bones_meet_the_target(held_out_dice):
    assert min(held_out_dice.values()) >= TARGET
