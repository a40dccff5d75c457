"""The knee network's inference over echo pairs and zooms (the shipped weights)."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.kneeseg.automatic import default_weights, load_segmenter
from msklabel.kneeseg.inference import predict
from msklabel.volume import Volume

pytestmark = pytest.mark.skipif(not default_weights().is_file(), reason="no shipped knee weights")

AFFINE = np.diag([3.0, 0.6, 0.6, 1.0])  # sagittal slices, 0.6 mm pixels


def _images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    early = rng.normal(300, 40, (3, 96, 96)).astype(np.float32)
    early[:, 20:60, 20:70] += 900  # a bright block: something to label
    late = (early * 0.6).astype(np.float32)
    return early, late


def test_the_mean_over_identical_echo_pairs_is_the_single_pairs_answer():
    early, late = _images()
    one = predict(load_segmenter(), [Volume(early, AFFINE, echo_time=12.0),
                                     Volume(late, AFFINE, echo_time=47.0)])  # fmt: skip
    # three early echoes (6, 12, 18 ms) and their late ones: three pairs of the same images
    echoes = [Volume(early, AFFINE, echo_time=t) for t in (6.0, 12.0, 18.0)]
    echoes += [Volume(late, AFFINE, echo_time=t) for t in (41.0, 47.0, 53.0)]
    three = predict(load_segmenter(), echoes)
    assert np.array_equal(three.classes, one.classes)
    np.testing.assert_allclose(three.confidence, one.confidence, atol=1e-6)
    for mine, theirs in zip(three.zoom_classes, one.zoom_classes, strict=True):
        assert np.array_equal(mine, theirs)


def test_another_echo_pair_changes_the_mean():
    early, late = _images()
    other = np.ascontiguousarray(early[:, ::-1])  # a pair that shows something else
    echoes = [
        Volume(early, AFFINE, echo_time=12.0),
        Volume(other, AFFINE, echo_time=18.0),
        Volume(late, AFFINE, echo_time=47.0),
        Volume(late, AFFINE, echo_time=53.0),
    ]
    both = predict(load_segmenter(), echoes)
    first = predict(load_segmenter(), [echoes[0], echoes[2]])
    assert not np.allclose(both.confidence, first.confidence, atol=1e-3)


def test_echoes_on_different_grids_are_refused():
    early, late = _images()
    echoes = [Volume(early, AFFINE, echo_time=12.0), Volume(late[:, :90], AFFINE, echo_time=47.0)]
    with pytest.raises(ValueError, match="one grid"):
        predict(load_segmenter(), echoes)
