"""The engine with the real LiteMedSAM weights: phantoms, the real knee, clicks, cache, sessions."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from msklabel.labels import BONES, KneeLabel
from msklabel.segment import Box, LabelPrompt, Point, Segmenter

#: Boxes (row_min, column_min, row_max, column_max) around the bones on the sample's slice 12.
SAMPLE_BOXES = {
    KneeLabel.FEMUR: (0, 80, 130, 148),
    KneeLabel.TIBIA: (147, 90, 255, 175),
    KneeLabel.PATELLA: (55, 37, 127, 72),
}


@pytest.mark.slow
def test_box_prompts_segment_phantom_bones(segmenter, knee_phantom, truth_box, dice):
    labels = knee_phantom.labels.array
    # the two slices where the smallest of the three bones is largest
    areas = np.stack([(labels == bone).sum(axis=(1, 2)) for bone in BONES]).min(axis=0)
    slices = sorted(np.argsort(areas)[-2:].tolist())
    prompts = [
        LabelPrompt(bone, boxes=[truth_box(labels, bone, k) for k in slices]) for bone in BONES
    ]
    result = segmenter.segment(knee_phantom.echoes[0], prompts)
    assert result.labels.shape == knee_phantom.labels.shape
    np.testing.assert_array_equal(result.labels.affine, knee_phantom.echoes[0].affine)
    for bone in BONES:
        score = dice(result.mask(bone)[slices], labels[slices] == bone)
        print(f"{bone.key}: Dice {score:.3f}")
        assert score >= 0.90, bone.key
        assert np.isfinite(result.scores[bone][slices]).all()
        assert np.isnan(np.delete(result.scores[bone], slices)).all()


@pytest.mark.slow
def test_box_prompts_outline_bones_of_the_real_knee(segmenter, sample_knee):
    middle = sample_knee.shape[0] // 2
    prompts = [LabelPrompt(bone, boxes=[Box(middle, *box)]) for bone, box in SAMPLE_BOXES.items()]
    result = segmenter.segment(sample_knee, prompts)
    for bone, (row0, column0, row1, column1) in SAMPLE_BOXES.items():
        mask = result.mask(bone)[middle]
        inside = mask[row0 : row1 + 1, column0 : column1 + 1].sum()
        share = inside / ((row1 - row0 + 1) * (column1 - column0 + 1))
        print(f"{bone.key}: {mask.sum()} pixels, {share:.2f} of its box")
        assert inside == mask.sum(), f"{bone.key} leaves its box"
        assert 0.35 <= share <= 0.85, bone.key
        assert result.scores[bone][middle] > 0.8
    assert not result.labels.array[:middle].any() and not result.labels.array[middle + 1 :].any()


@pytest.mark.slow
def test_clicks_inside_the_femur_give_a_mask_holding_them(segmenter, sample_knee):
    middle = sample_knee.shape[0] // 2
    clicks = [Point(middle, 60, 115), Point(middle, 100, 120)]
    result = segmenter.segment(sample_knee, LabelPrompt(KneeLabel.FEMUR, points=clicks))
    mask = result.mask(KneeLabel.FEMUR)[middle]
    assert all(mask[int(p.row), int(p.column)] for p in clicks)
    row0, column0, row1, column1 = SAMPLE_BOXES[KneeLabel.FEMUR]
    assert mask[row0 : row1 + 1, column0 : column1 + 1].sum() >= 0.9 * mask.sum()


@pytest.mark.slow
def test_second_prompt_on_a_slice_does_not_encode_again(segmenter, sample_knee, monkeypatch):
    backend = segmenter.backend
    calls = []
    encode = backend.encode
    monkeypatch.setattr(
        backend, "encode", lambda images: calls.append(len(images)) or encode(images)
    )
    session = segmenter.session(sample_knee)
    box = Box(5, *SAMPLE_BOXES[KneeLabel.TIBIA])
    session.segment(LabelPrompt(KneeLabel.TIBIA, boxes=[box]))
    assert sum(calls) <= 1  # zero if an earlier test already encoded slice 5
    session.segment(LabelPrompt(KneeLabel.TIBIA, boxes=[box], points=[Point(5, 200, 130)]))
    segmenter.session(sample_knee).segment(LabelPrompt(KneeLabel.FEMUR, points=[Point(5, 60, 115)]))
    assert sum(calls) <= 1


@pytest.mark.slow
def test_interleaved_sessions_on_two_images_match_each_alone(
    litemedsam, sample_knee, knee_phantom, truth_box
):
    phantom_image = knee_phantom.echoes[0]
    phantom_prompt = LabelPrompt(
        KneeLabel.TIBIA, boxes=[truth_box(knee_phantom.labels.array, KneeLabel.TIBIA, 22)]
    )
    knee_prompt = LabelPrompt(KneeLabel.FEMUR, boxes=[Box(13, *SAMPLE_BOXES[KneeLabel.FEMUR])])
    alone = Segmenter(litemedsam)
    expected = [
        alone.segment(phantom_image, phantom_prompt).labels.array,
        alone.segment(sample_knee, knee_prompt).labels.array,
    ]
    shared = Segmenter(litemedsam)
    sessions = [shared.session(phantom_image), shared.session(sample_knee)]
    prompts = [phantom_prompt, knee_prompt]
    found: list = [[], []]

    def work(number: int) -> None:
        for _ in range(3):
            found[number].append(sessions[number].segment(prompts[number]).labels.array)

    threads = [threading.Thread(target=work, args=(number,)) for number in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for number in (0, 1):
        assert len(found[number]) == 3
        for array in found[number]:
            np.testing.assert_array_equal(array, expected[number])
    assert shared.cache.stats().entries == 2


def test_segmenter_uses_the_robust_window(segmenter, sample_knee):
    session = segmenter.session(sample_knee)
    assert session.images.dtype == np.float32
    assert session.images.min() >= 0.0 and session.images.max() <= 1.0
    assert 0.004 < (session.images == 1.0).mean() < 0.01
    assert isinstance(segmenter, Segmenter)
