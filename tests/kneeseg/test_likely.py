"""The real sample's patella: the network is unsure of its rim and its outer slices (plainly
patella on the second echo, docs/kneeseg.md), and the voxels it left to the background
where its mean probability of patella reaches the threshold join the bone."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.io import read_echoes
from msklabel.kneeseg.anatomy import LIKELY_PROBABILITY, knee_labels
from msklabel.kneeseg.automatic import default_weights, load_segmenter
from msklabel.kneeseg.classes import SegClass
from msklabel.kneeseg.inference import predict
from msklabel.labels import KneeLabel

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_weights().is_file(), reason="no shipped knee weights"),
]


def test_the_real_patella_takes_the_rim_the_network_was_unsure_of(sample) -> None:
    echoes = read_echoes(sample.dicom_dir)
    prediction = predict(load_segmenter(), echoes)
    likely = prediction.likely[SegClass.PATELLA]
    called = prediction.classes == SegClass.PATELLA
    threshold = LIKELY_PROBABILITY[SegClass.PATELLA]
    # where the network called patella, the confidence is the patella's mean probability
    assert np.array_equal(likely & called, called & (prediction.confidence >= threshold))
    assert (likely & ~called).any()
    grown, _ = knee_labels(prediction.classes, echoes[0], "right", "given", prediction.likely)
    argmax, _ = knee_labels(prediction.classes, echoes[0], "right", "given")
    before, after = argmax == KneeLabel.PATELLA, grown == KneeLabel.PATELLA
    # measured 2026-12-08: 9.2 -> 12.1 cm3, its half-missed slices and one more filled
    assert after.sum() >= 1.2 * before.sum()
    labelled = argmax > 0  # the rim comes from the background: no structure loses a voxel
    assert np.array_equal(grown[labelled], argmax[labelled])
