"""The annotators' loop (issue 21, item 5): corrected labels of a site's own series fine-tune
the shipped network, and the gain shows on other knees of that site.

The "site" is a protocol of the held-out simulation (docs/simulation.md), a generator the
shipped network never trained on; its truth stands in for an annotator's corrected labels.
The fine-tuning studies and the judged study are different simulated subjects (their anatomy
is deformed independently; all derive from the same two real DESS knees)."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.data.simulation import simulate_study
from msklabel.detect.synth import LabelledSeries
from msklabel.kneeseg.automatic import default_weights, load_segmenter, segment_knee
from msklabel.kneeseg.presets import training_volumes
from msklabel.kneeseg.training import TrainConfig, train_segmenter
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI
from msklabel.segment.overlap import dice

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_weights().is_file(), reason="no shipped knee weights"),
]

SITE = "clinical-1.5t"
SIZE = {"slices": 16, "matrix": 256}
CORRECTED_SUBJECTS = (31, 32)
JUDGED_SUBJECT = 33
FINE_TUNING = TrainConfig(steps=160, batch_size=4, learning_rate=5e-4, seed=0)
SOFT = (*CARTILAGE_PLATES, *MENISCI)


def _dice(segmenter, study) -> dict[int, float]:
    labels = segment_knee(study.echoes, segmenter, progress=False).labels.array
    truth = study.truth.array
    return {int(s): dice(labels == s, truth == s) for s in (*BONES, *SOFT)}


@pytest.fixture(scope="module")
def before_after() -> tuple[dict[int, float], dict[int, float]]:
    shipped = load_segmenter()
    corrected = [simulate_study(SITE, seed, **SIZE) for seed in CORRECTED_SUBJECTS]
    judged = simulate_study(SITE, JUDGED_SUBJECT, **SIZE)
    tuned = train_segmenter(
        training_volumes("phantom", progress=False),
        FINE_TUNING,
        progress=False,
        images=[LabelledSeries(s.truth, tuple(s.echoes)) for s in corrected],
        initial=shipped,
    )
    before, after = _dice(shipped, judged), _dice(tuned, judged)
    for s in before:
        print(f"label {s}: Dice {before[s]:.3f} -> {after[s]:.3f}")
    return before, after


def test_corrected_labels_raise_cartilage_and_meniscus_dice(before_after) -> None:
    before, after = before_after
    gain = np.mean([after[s] - before[s] for s in SOFT])
    assert gain >= 0.03, {s: (round(before[s], 3), round(after[s], 3)) for s in SOFT}


def test_fine_tuning_keeps_the_bones(before_after) -> None:
    before, after = before_after
    lost = {
        s: (round(before[s], 3), round(after[s], 3)) for s in BONES if after[s] < before[s] - 0.02
    }
    assert not lost, lost
