"""Backends loaded from checkpoints: SAM and SAM2 with random weights, LiteMedSAM propagation.

Random weights give arbitrary masks, so the SAM and SAM2 tests check the plumbing (geometry,
which slices are segmented and scored, tracking in both directions), never mask quality.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msklabel.errors import DataUnavailableError
from msklabel.labels import KneeLabel
from msklabel.segment import Box, LabelPrompt, Point, Segmenter, load_backend
from msklabel.segment.backends.base import TrackingBackend
from msklabel.segment.backends.sam2 import config_file
from msklabel.volume import Volume

AFFINE = np.array([[0.0, 0, 3, -40], [0.5, 0, 0, -16], [0, -0.5, 0, 16], [0, 0, 0, 1]])


def _volume(slices: int) -> Volume:
    image = np.random.default_rng(0).normal(100, 20, (slices, 64, 64)).astype(np.float32)
    image[:, 20:44, 16:40] += 150
    return Volume(image, AFFINE)


@pytest.mark.parametrize(("model", "variant"), [("sam", "vit_b"), ("sam2", "hiera_t")])
def test_checkpoint_less_models_name_the_checkpoint_option(model, variant):
    with pytest.raises(DataUnavailableError, match="--checkpoint PATH"):
        load_backend(model, None, variant)


def test_sam2_variants_pick_the_packaged_configs():
    assert config_file("hiera_t") == "configs/sam2.1/sam2.1_hiera_t.yaml"
    assert config_file("2.1_hiera_b+") == "configs/sam2.1/sam2.1_hiera_b+.yaml"
    assert config_file("2_hiera_l") == "configs/sam2/sam2_hiera_l.yaml"
    with pytest.raises(ValueError, match="unknown SAM2 variant"):
        load_backend("sam2", "any.pt", "vit_b")


@pytest.mark.slow
@pytest.mark.parametrize(("model", "variant"), [("sam", "vit_b"), ("sam2", "hiera_t")])
def test_point_and_box_prompts_through_a_random_checkpoint(checkpoints, model, variant):
    torch.manual_seed(0)
    backend = load_backend(model, checkpoints[model], variant)
    volume = _volume(5)
    # both prompts on one slice: one 1024 x 1024 encoding, the test's whole cost
    prompts = [
        LabelPrompt(1, points=[Point(2, 32, 28)]),
        LabelPrompt(2, boxes=[Box(2, 18, 14, 46, 42)]),
    ]
    result = Segmenter(backend).segment(volume, prompts)
    assert result.labels.shape == volume.shape
    np.testing.assert_array_equal(result.labels.affine, volume.affine)
    assert set(np.unique(result.labels.array)) <= {0, 1, 2}
    assert not np.delete(result.labels.array, 2, axis=0).any()
    for label in (1, 2):
        assert np.isfinite(result.scores[label][2])
        assert np.isnan(np.delete(result.scores[label], 2)).all()


@pytest.mark.slow
def test_sam2_tracks_from_the_middle_slice_both_ways(checkpoints, monkeypatch):
    torch.manual_seed(0)
    backend = load_backend("sam2", checkpoints["sam2"], "hiera_t")
    assert isinstance(backend, TrackingBackend)
    visited = []
    run = backend.network._run_single_frame_inference
    monkeypatch.setattr(
        backend.network,
        "_run_single_frame_inference",
        lambda **kwargs: visited.append((kwargs["frame_idx"], kwargs["reverse"])) or run(**kwargs),
    )
    volume = _volume(3)
    prompt = LabelPrompt(1, boxes=[Box(1, 18, 14, 46, 42)], propagate=True)
    result = Segmenter(backend).segment(volume, prompt)
    assert (0, True) in visited and (2, False) in visited
    assert result.labels.shape == volume.shape
    assert np.isfinite(result.scores[1][1])
    scored = np.isfinite(result.scores[1])
    assert (result.labels.array[~scored] == 0).all()


@pytest.fixture(scope="module")
def femur_propagation(segmenter, knee_phantom, truth_box) -> tuple[np.ndarray, np.ndarray]:
    """LiteMedSAM femur propagation from one box on the phantom's slices 2-14 (femur from 5 on).

    Returns the femur's slices and the slices propagation reached, in sub-volume indices.
    """
    image, labels = knee_phantom.echoes[0], knee_phantom.labels.array[2:15]
    volume = Volume(image.array[2:15], image.affine)
    femur = np.flatnonzero((labels == KneeLabel.FEMUR).any(axis=(1, 2)))
    prompt = LabelPrompt(
        KneeLabel.FEMUR, boxes=[truth_box(labels, KneeLabel.FEMUR, 10)], propagate=True
    )
    result = segmenter.segment(volume, prompt)
    found = np.flatnonzero(np.isfinite(result.scores[KneeLabel.FEMUR]))
    assert not result.mask(KneeLabel.FEMUR)[np.setdiff1d(np.arange(len(labels)), found)].any()
    print(f"femur on slices {femur.min()}-{femur.max()}, propagated to {found.min()}-{found.max()}")
    return femur, found


@pytest.mark.slow
def test_litemedsam_box_propagates_both_ways(femur_propagation):
    _, found = femur_propagation
    np.testing.assert_array_equal(found, np.arange(found.min(), found.max() + 1))
    assert found.min() <= 8 and found.max() >= 12


@pytest.mark.slow
def test_litemedsam_box_propagation_stops_where_the_femur_ends(femur_propagation):
    femur, found = femur_propagation
    assert found.min() >= femur.min() - 1
