"""Uncertainty of an image and the active-learning choices, on plain data."""

from __future__ import annotations

import random

import numpy as np
import pytest

from msklabel.labeling.active import (
    Uncertainty,
    choose_diverse,
    choose_first,
    choose_least_sure,
    choose_random,
    measure_uncertainty,
    picks_to_cover,
    sample_slices,
)
from msklabel.segment import Segmentation
from msklabel.volume import Volume


def _volume(slices: int = 24) -> Volume:
    affine = np.array([[3.0, 0, 0, -10], [0, 0.5, 0, 5], [0, 0, 0.5, 7], [0, 0, 0, 1]])
    array = np.arange(slices, dtype=float)[:, None, None] * np.ones((slices, 4, 4))
    return Volume(array, affine)


def test_sampled_slices_keep_their_positions():
    volume = _volume()
    sampled = sample_slices(volume, 3)
    assert sampled.array[:, 0, 0].tolist() == [6.0, 12.0, 18.0]
    for k, index in enumerate((6, 12, 18)):
        np.testing.assert_allclose(
            sampled.index_to_patient([k, 1, 2]), volume.index_to_patient([index, 1, 2])
        )


def test_uncertainty_is_one_minus_the_mean_predicted_iou():
    def segment(volume: Volume) -> Segmentation:
        scores = {
            1: np.array([0.9, 0.7, np.nan]),
            2: np.full(3, np.nan),
            3: np.array([0.5, np.nan, np.nan]),
        }
        return Segmentation(volume.with_array(np.zeros(volume.shape, np.uint8)), scores)

    found = measure_uncertainty(segment, _volume(), 3)
    assert found.mean_iou == pytest.approx(0.7)
    assert found.score == pytest.approx(0.3)
    assert found.slices == (6, 12, 18) and found.structures == 2


def test_nothing_found_is_the_most_uncertain():
    def segment(volume: Volume) -> Segmentation:
        return Segmentation(volume, {1: np.full(volume.shape[0], np.nan)})

    assert measure_uncertainty(segment, _volume(), 3).score == 1.0


def test_choices_name_an_unlabeled_image_and_say_why():
    assert choose_first(["b", "a"]).image == "a"
    assert choose_first([]) is None
    assert choose_random(["a", "b", "c"], random.Random(1)).image in {"a", "b", "c"}
    found = {
        "sure": Uncertainty(0.1, 0.9, (1, 2), 3),
        "unsure": Uncertainty(0.6, 0.4, (1, 2), 2),
    }
    choice = choose_least_sure(found)
    assert choice.image == "unsure" and choice.uncertainty == 0.6
    assert "mean predicted IoU 0.400" in choice.explanation
    assert "next is sure at 0.100" in choice.explanation
    assert choose_least_sure({}) is None


def test_diverse_picks_the_image_farthest_from_every_labeled_one():
    vectors = {
        "a": np.array([1.0, 0.0, 0.0]),
        "a2": np.array([0.98, 0.2, 0.0]),
        "b": np.array([0.0, 1.0, 0.0]),
        "c": np.array([0.0, 0.0, 5.0]),
    }
    first = choose_diverse(vectors, [])
    assert first.image == "a2" and "nothing labeled" in first.explanation
    choice = choose_diverse(vectors, ["a", "b"])
    assert choice.image == "c" and choice.distance == pytest.approx(1.0)
    assert "cosine distance 1.0000" in choice.explanation and "next is a2" in choice.explanation
    assert choose_diverse(vectors, ["a", "b", "c"]).image == "a2"
    assert choose_diverse(vectors, list(vectors)) is None


def test_picks_to_cover_counts_until_every_group_is_labeled():
    groups = {"a": 1, "a2": 1, "b": 2, "c": 3}
    order = iter(["a2", "b", "c"])
    assert picks_to_cover(groups, lambda labeled: next(order), "a") == 4
    with pytest.raises(ValueError, match="labeled already"):
        picks_to_cover(groups, lambda labeled: "a", "a")
