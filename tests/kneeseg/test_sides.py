"""Which knee: a simulated left knee whose slices leave out the fibula is labelled medial and
lateral from its header's Laterality; without the header the side can only be assumed, and
the gate says so instead of passing swapped plates and menisci."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.biomarkers.knee import measure_knee
from msklabel.biomarkers.quality import Verdict, assess_knee
from msklabel.data.simulation import simulate_study
from msklabel.data.simulation.study import write_study
from msklabel.io import read_echoes
from msklabel.kneeseg.automatic import default_weights, load_segmenter, segment_knee
from msklabel.labels import SIDED, KneeLabel
from msklabel.segment.overlap import dice
from msklabel.volume import Volume

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not default_weights().is_file(), reason="no shipped knee weights"),
]


@pytest.fixture(scope="module")
def left_knee(tmp_path_factory):
    """``pd-fatsat`` seed 2, its 16 middle slices (no fibula among them), written as DICOM
    with Laterality L, and its truth."""
    study = simulate_study("pd-fatsat", 2, slices=16, matrix=192)
    written = write_study(study, tmp_path_factory.mktemp("left"))
    return read_echoes(written["dicom"]), study.truth.array


def _sided_dice(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {s.key: round(dice(labels == s, truth == s), 3) for s in SIDED}


def test_the_header_names_the_side(left_knee) -> None:
    echoes, truth = left_knee
    result = segment_knee(echoes, load_segmenter(), progress=False)
    assert (result.sides.laterality, result.sides.source) == ("left", "header")
    scores = _sided_dice(result.labels.array, truth)
    assert min(scores.values()) > 0.6, scores


def test_without_the_header_the_side_is_assumed_and_the_gate_flags_it(left_knee) -> None:
    echoes, truth = left_knee
    bare = [Volume(v.array, v.affine, echo_time=v.echo_time) for v in echoes]  # no header
    result = segment_knee(bare, load_segmenter(), progress=False)
    assert result.sides.assumed and result.sides.laterality == "right"
    swapped = _sided_dice(result.labels.array, truth)
    assert max(swapped.values()) < 0.1, swapped  # what the flag is for
    labels = result.labels
    report = assess_knee(labels, measure_knee(labels), sides_assumed=result.sides.assumed)
    for label in SIDED:
        verdict = report.structures[label.key].verdict
        assert verdict != Verdict.PASS, (label.key, report.structures[label.key].reasons)
    assert "laterality" in {
        r.code for r in report.structures[KneeLabel.MEDIAL_MENISCUS.key].reasons
    }
