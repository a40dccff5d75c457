"""Per-slice detections become structures: one contiguous range each, sides named."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.detect.classes import DetectorClass
from msklabel.detect.consistency import Rules, best_runs, find_structures
from msklabel.detect.detector import SliceDetections
from msklabel.labels import KneeLabel
from msklabel.volume import Volume


def test_gaps_are_bridged_isolated_detections_dropped_and_the_best_run_kept() -> None:
    present = np.array([1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1], bool)
    scores = np.where(present, 0.9, 0.0)
    # Slice 0 is isolated; 5-10 is one run once the two-slice gap is bridged; 14-15 scores less.
    assert best_runs(present, scores, max_gap=2, min_run=2) == [(5, 10)]
    assert best_runs(present, scores, max_gap=2, min_run=2, count=3) == [(5, 10), (14, 15)]
    assert best_runs(present, scores, max_gap=1, min_run=2) in ([(5, 6)], [(9, 10)], [(14, 15)])
    assert best_runs(np.array([0, 1, 0], bool), np.ones(3), max_gap=2, min_run=2) == []
    weak = present | (np.arange(16) == 13)  # a weak detection grows the last run
    assert (13, 15) in best_runs(present, scores, 0, 2, weak, count=3)


def _detections(slices: int) -> SliceDetections:
    boxes = np.zeros((slices, len(DetectorClass), 4))
    boxes[..., 2:] = 10.0
    return SliceDetections(boxes, np.zeros((slices, len(DetectorClass))))


def _sagittal(slices: int, x_step: float) -> Volume:
    affine = np.eye(4)
    affine[:3, :3] = np.array([[x_step, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]).T
    return Volume(np.zeros((slices, 20, 20), np.float32), affine)


@pytest.mark.parametrize(("x_step", "laterality"), [(3.0, "right"), (-3.0, "right"), (3.0, "left")])
def test_tibial_cartilage_is_split_into_medial_and_lateral_by_side(
    x_step: float, laterality: str
) -> None:
    detections = _detections(20)
    detections.scores[2:18, DetectorClass.TIBIA] = 0.9
    detections.scores[3:8, DetectorClass.TIBIAL_CARTILAGE] = 0.8
    detections.scores[12:17, DetectorClass.TIBIAL_CARTILAGE] = 0.7
    detections.boxes[12:17, DetectorClass.TIBIAL_CARTILAGE] = [5.0, 5.0, 9.0, 12.0]
    detections.scores[10, DetectorClass.PATELLA] = 0.9  # isolated: dropped
    found = {s.label: s for s in find_structures(detections, _sagittal(20, x_step), laterality)}  # type: ignore[arg-type]

    assert set(found) == {
        KneeLabel.TIBIA,
        KneeLabel.MEDIAL_TIBIAL_CARTILAGE,
        KneeLabel.LATERAL_TIBIAL_CARTILAGE,
    }
    # Greater x (patient left) is medial on a right knee; slices 12-16 lie there if x_step > 0.
    high_x_is_medial = laterality == "right"
    high = (
        KneeLabel.MEDIAL_TIBIAL_CARTILAGE
        if high_x_is_medial
        else KneeLabel.LATERAL_TIBIAL_CARTILAGE
    )
    expected = list(range(12, 17)) if x_step > 0 else list(range(3, 8))
    assert found[high].slices == expected
    assert found[KneeLabel.TIBIA].slices == list(range(2, 18))


def test_the_fibula_names_the_knee_and_bridged_boxes_are_interpolated() -> None:
    detections = _detections(20)
    detections.scores[2:18, DetectorClass.TIBIA] = 0.9
    detections.scores[14:18, DetectorClass.FIBULA] = 0.6  # the fibula lies at high x
    detections.scores[[12, 15], DetectorClass.MENISCUS] = 0.8  # 13-14 bridged
    detections.boxes[12, DetectorClass.MENISCUS] = [0.0, 0.0, 6.0, 6.0]
    detections.boxes[15, DetectorClass.MENISCUS] = [3.0, 3.0, 9.0, 9.0]
    found = {
        s.label: s for s in find_structures(detections, _sagittal(20, 3.0), None, Rules(max_gap=2))
    }
    # High x is lateral, so this is a left knee and the meniscus there is lateral.
    meniscus = found[KneeLabel.LATERAL_MENISCUS]
    assert meniscus.slices == [12, 13, 14, 15]
    assert meniscus.boxes[1].row_min == pytest.approx(1.0)
    assert np.isnan(meniscus.scores[1]) and meniscus.best.slice in (12, 15)
