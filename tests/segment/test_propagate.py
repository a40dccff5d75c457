"""Box propagation: its rules on a model that answers the truth inside the box, and the Dice
of LiteMedSAM propagation from one box per bone (issue 21: femur and tibia >= 0.85), alone
and guided by the knee network (as the app's propagation infer is for knee structures)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from msklabel.data.simulation import simulate_study
from msklabel.kneeseg.automatic import load_segmenter, segment_knee
from msklabel.labels import KneeLabel
from msklabel.segment import LabelPrompt
from msklabel.segment.backends.base import SliceMask
from msklabel.segment.prompts import Box, Point, SlicePrompt
from msklabel.segment.propagate import StopRule, filled, propagate_boxes, seed_answer

TARGET = 0.85


def _widening(slices: int = 9) -> np.ndarray:
    """A block whose lower side moves 3 pixels per slice away from the middle slice (15 % of
    its height at first: the largest box, 1.25 times the previous one, reaches it)."""
    truth = np.zeros((slices, 80, 40), bool)
    for k in range(slices):
        truth[k, 10 : 30 + 3 * abs(k - slices // 2), 10:30] = True
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
    rule = StopRule(min_score=0.0, scales=(1.0,))
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


def _leaky_model(truth: np.ndarray, neighbour: np.ndarray):
    """Answers the truth inside the box (rated 0.8), or the truth and a large neighbour
    (rated 0.95) once the box reaches into the neighbour."""

    def predict(index: int, prompt: SlicePrompt) -> SliceMask:
        x0, y0, x1, y1 = np.round(prompt.box).astype(int)
        inside = np.zeros_like(truth[index])
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
        mask, score = truth[index] & inside, 0.8
        if (neighbour & inside).any():
            mask, score = mask | neighbour, 0.95
        return SliceMask(np.where(mask, 1.0, -1.0), score)

    return predict


def test_a_better_rated_answer_unlike_the_previous_mask_loses():
    truth = np.zeros((5, 80, 80), bool)
    truth[:, 30:50, 30:50] = True
    neighbour = np.zeros((80, 80), bool)
    neighbour[52:80, 0:80] = True  # reached by the 1.25 box (rows up to 52), three times larger
    predict = _leaky_model(truth, neighbour)
    seed = predict(2, SlicePrompt.of_box(Box(2, 30, 30, 49, 49)))
    results = propagate_boxes({2: seed}, 5, predict, StopRule())
    found = np.stack([results[k].mask for k in range(5)])
    np.testing.assert_array_equal(found, truth)


def _rim_model(truth: np.ndarray):
    """Answers a structure's one-pixel rim (rated 0.6) to a box that holds all of it, and
    the structure (rated 0.8) to a box that cuts into it."""

    def predict(index: int, prompt: SlicePrompt) -> SliceMask:
        x0, y0, x1, y1 = prompt.box
        rows, columns = np.nonzero(truth[index])
        holds = x0 <= columns.min() and y0 <= rows.min()
        holds = holds and x1 >= columns.max() and y1 >= rows.max()
        if holds:
            rim = truth[index] & ~ndimage.binary_erosion(truth[index])
            return SliceMask(np.where(rim, 1.0, -1.0), 0.6)
        return SliceMask(np.where(truth[index], 1.0, -1.0), 0.8)

    return predict


def test_a_seed_answer_filling_little_of_its_box_is_asked_again_with_smaller_boxes():
    truth = np.zeros((1, 80, 80), bool)
    truth[0, 20:60, 20:60] = True
    predict = _rim_model(truth)
    prompt = SlicePrompt.of_box(_box(truth[0], 0))
    assert predict(0, prompt).mask.sum() < 0.3 * 44 * 44
    answer = seed_answer(0, prompt, predict)
    np.testing.assert_array_equal(answer.mask, truth[0])
    assert answer.score == 0.8


def test_a_seed_answer_filling_its_box_is_kept():
    truth = np.zeros((1, 80, 80), bool)
    truth[0, 20:60, 20:60] = True
    predict = _box_model(truth)
    prompt = SlicePrompt.of_box(_box(truth[0], 0))
    answer = seed_answer(0, prompt, predict)
    np.testing.assert_array_equal(answer.mask, truth[0])
    assert answer.score == 1.0


def _tapering(slices: int = 9) -> np.ndarray:
    """A block 40 rows high on the middle slice, 4 rows on the outer ones (a tenth)."""
    truth = np.zeros((slices, 60, 40), bool)
    for k in range(slices):
        height = 40 - 9 * abs(k - slices // 2)
        truth[k, 10 : 10 + height, 10:30] = True
    return truth


def _seeded(truth: np.ndarray, predict) -> dict[int, SliceMask]:
    middle = len(truth) // 2
    return {middle: predict(middle, SlicePrompt.of_box(_box(truth[middle], middle)))}


def test_a_guide_follows_a_tapering_structure_past_the_relative_area_stop():
    truth = _tapering()
    predict = _box_model(truth)
    unguided = propagate_boxes(_seeded(truth, predict), len(truth), predict)
    guided = propagate_boxes(_seeded(truth, predict), len(truth), predict, guide=truth)
    assert sorted(unguided) == [1, 2, 3, 4, 5, 6, 7]  # 4 rows of 40: under a fifth, stopped
    assert sorted(guided) == list(range(len(truth)))
    np.testing.assert_array_equal(np.stack([guided[k].mask for k in sorted(guided)]), truth)


def test_propagation_stops_where_the_guide_ends():
    truth = _widening()
    predict = _box_model(truth)
    guide = truth.copy()
    guide[:2] = guide[7:] = False
    results = propagate_boxes(_seeded(truth, predict), len(truth), predict, guide=guide)
    assert sorted(results) == [2, 3, 4, 5, 6]


def test_the_answer_that_agrees_with_the_guide_wins_over_the_better_rated():
    """The model joins a neighbour to the structure when the box reaches it, and rates that
    answer higher; the guide (the structure alone) keeps the answer without the neighbour."""
    structure = np.zeros((5, 60, 60), bool)
    structure[:, 20:40, 10:30] = True
    neighbour = np.zeros_like(structure)
    neighbour[:, 20:40, 32:50] = True

    def predict(index: int, prompt: SlicePrompt) -> SliceMask:
        reaches = prompt.box[2] >= 32  # the box's right edge
        mask = structure[index] | neighbour[index] if reaches else structure[index]
        return SliceMask(np.where(mask, 1.0, -1.0), 0.95 if reaches else 0.8)

    seeds = {2: SliceMask(np.where(structure[2], 1.0, -1.0), 0.9)}
    unguided = propagate_boxes(seeds, 5, predict)
    guided = propagate_boxes(seeds, 5, predict, guide=structure)
    assert unguided[3].mask.sum() > structure[3].sum()  # the neighbour joined
    for k in (0, 1, 3, 4):
        np.testing.assert_array_equal(guided[k].mask, structure[k])


def test_a_guide_that_misses_the_seed_is_not_followed():
    truth = _widening()
    predict = _box_model(truth)
    elsewhere = np.zeros_like(truth)
    elsewhere[:, 60:, 32:] = True
    plain = propagate_boxes(_seeded(truth, predict), len(truth), predict)
    guided = propagate_boxes(_seeded(truth, predict), len(truth), predict, guide=elsewhere)
    assert sorted(guided) == sorted(plain)
    for k in plain:
        np.testing.assert_array_equal(guided[k].mask, plain[k].mask)


def _box(mask: np.ndarray, index: int) -> Box:
    return Box.around(mask, index, 2.0)


def _propagated_dice(segmenter, image, truth, label, truth_box, dice, guide=None) -> float:
    slices = np.flatnonzero((truth == label).any(axis=(1, 2)))
    middle = int(slices[len(slices) // 2])
    box = truth_box(truth, label, middle)
    prompt = LabelPrompt(label, boxes=[box], propagate=True, guide=guide)
    mask = segmenter.segment(image, prompt).mask(label)
    score = dice(mask, truth == label)
    print(f"{KneeLabel(label).key}{'' if guide is None else ', guided'}: Dice {score:.3f}")
    return score


def _knee_network_labels(echoes, laterality) -> np.ndarray:
    """The shipped knee network's labels: the guide the app's propagation gets."""
    return segment_knee(echoes, load_segmenter(), laterality, progress=False).labels.array


@pytest.fixture(scope="module")
def phantom_dice(segmenter, knee_phantom, truth_box, dice) -> dict[int, float]:
    """Dice of femur and tibia on the 3 mm sagittal phantom (seed 1), one box each."""
    image, truth = knee_phantom.echoes[0], knee_phantom.labels.array
    return {
        bone: _propagated_dice(segmenter, image, truth, bone, truth_box, dice)
        for bone in (KneeLabel.FEMUR, KneeLabel.TIBIA)
    }


@pytest.mark.slow
def test_phantom_bones_meet_the_target(phantom_dice):
    """Measured: femur 0.96, tibia 0.86 (before issue 21's rule: 0.75, 0.88)."""
    low = {bone.key: round(v, 3) for bone, v in phantom_dice.items() if v < TARGET}
    assert not low, low


@pytest.mark.slow
def test_other_phantom_noise_meets_the_target_guided(segmenter, held_out_phantom, truth_box, dice):
    """Seed 3, guided by the knee network. Measured: femur 0.94, tibia 0.93 (unguided: 0.96,
    0.86)."""
    image, truth = held_out_phantom.echoes[0], held_out_phantom.labels.array
    knee = _knee_network_labels(held_out_phantom.echoes, "right")
    scores = {
        bone.key: _propagated_dice(segmenter, image, truth, bone, truth_box, dice, knee == bone)
        for bone in (KneeLabel.FEMUR, KneeLabel.TIBIA)
    }
    low = {key: round(v, 3) for key, v in scores.items() if v < TARGET}
    assert not low, low


@pytest.fixture(scope="module")
def held_out():
    """A held-out study not looked at while the rule was chosen (clinical-1.5t, seed 11:
    24 slices of 4 mm, 256 matrix)."""
    study = simulate_study("clinical-1.5t", 11, matrix=256)
    return study.echoes, study.truth.array


@pytest.mark.slow
def test_held_out_bones_meet_the_target(segmenter, held_out, truth_box, dice):
    """Measured: femur 0.86, tibia 0.87 (before: 0.87, 0.91; the old rule met it here too)."""
    echoes, truth = held_out
    scores = {
        bone.key: _propagated_dice(segmenter, echoes[0], truth, bone, truth_box, dice)
        for bone in (KneeLabel.FEMUR, KneeLabel.TIBIA)
    }
    low = {key: round(v, 3) for key, v in scores.items() if v < TARGET}
    assert not low, low


@pytest.mark.slow
def test_held_out_bones_meet_the_target_guided(segmenter, held_out, truth_box, dice):
    """Guided by the knee network (a left knee). Measured: femur 0.89, tibia 0.88."""
    echoes, truth = held_out
    knee = _knee_network_labels(echoes, "left")
    scores = {
        bone.key: _propagated_dice(segmenter, echoes[0], truth, bone, truth_box, dice, knee == bone)
        for bone in (KneeLabel.FEMUR, KneeLabel.TIBIA)
    }
    low = {key: round(v, 3) for key, v in scores.items() if v < TARGET}
    assert not low, low


@pytest.mark.slow
def test_a_click_with_a_guide_seeds_the_propagation_with_the_whole_bone(
    segmenter, knee_phantom, dice
):
    """One click inside the phantom femur's middle slice, the femur's truth as guide: the seed
    is the answer to the box around the guide's femur, not LiteMedSAM's fragment around the
    click, and the propagation from it reaches the target."""
    image, truth = knee_phantom.echoes[0], knee_phantom.labels.array
    femur = truth == KneeLabel.FEMUR
    slices = np.flatnonzero(femur.any(axis=(1, 2)))
    middle = int(slices[len(slices) // 2])
    depth = ndimage.distance_transform_edt(femur[middle])
    row, column = np.unravel_index(int(depth.argmax()), depth.shape)
    click = [Point(middle, float(row), float(column))]
    alone = segmenter.segment(image, LabelPrompt(KneeLabel.FEMUR, points=click, propagate=True))
    prompt = LabelPrompt(KneeLabel.FEMUR, points=click, propagate=True, guide=femur)
    mask = segmenter.segment(image, prompt).mask(KneeLabel.FEMUR)
    seed, unguided = (
        dice(mask[middle], femur[middle]),
        dice(alone.mask(KneeLabel.FEMUR)[middle], femur[middle]),
    )
    print(f"seed slice Dice: guided {seed:.3f}, unguided {unguided:.3f}")
    assert seed >= 0.9 and seed > unguided
    assert dice(mask, femur) >= TARGET
