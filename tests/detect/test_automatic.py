"""Fully automatic segmentation: the real sample knee with no prompts, and its contract."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.detect import AUTOMATIC_LABELS, NotSagittalError, prompts_for, segment_automatic
from msklabel.detect.consistency import Structure
from msklabel.io import read_volumes
from msklabel.labels import KneeLabel
from msklabel.segment import Box
from msklabel.volume import Volume

#: Plausible volumes (mm3) of the part of each bone inside the sample's field of view
#: (24 sagittal slices 4 mm apart = 96 mm across; 160 x 160 mm in plane, centred on the joint).
#: Reference: the two DESS label maps of the same mskt package (real adult right knees, 140 mm
#: in plane) hold 142 and 216 cm3 of femur, 101 and 125 cm3 of tibia and 13 and 21 cm3 of
#: patella. The bounds allow about a factor 2.5 either way for the knee's size, the field of
#: view and the model's error.
PLAUSIBLE_MM3 = {
    KneeLabel.FEMUR: (55_000, 400_000),
    KneeLabel.TIBIA: (40_000, 300_000),
    KneeLabel.PATELLA: (5_000, 35_000),
}


@pytest.mark.slow
def test_the_sample_knee_is_segmented_with_no_prompts(sample) -> None:
    volume = read_volumes(sample.dicom_dir)[0]
    result = segment_automatic(volume)
    assert result.labels.shape == volume.shape
    np.testing.assert_allclose(result.labels.affine, volume.affine)
    assert set(result.scores) == set(AUTOMATIC_LABELS)
    for label, (low, high) in PLAUSIBLE_MM3.items():
        mm3 = result.mask(label).sum() * volume.voxel_volume
        assert low <= mm3 <= high, (label.key, mm3)
        segmented = np.isfinite(result.scores[label])
        assert segmented.sum() >= 3
        # Only slices with a prompt were segmented: none outside the bone's detected range.
        assert not result.mask(label)[~segmented].any()
    # The femur lies above the tibia (rows run towards the feet on these slices).
    femur_rows = np.nonzero(result.mask(KneeLabel.FEMUR))[1].mean()
    tibia_rows = np.nonzero(result.mask(KneeLabel.TIBIA))[1].mean()
    assert femur_rows < tibia_rows


def test_labels_outside_the_detected_set_and_axial_slices_are_refused() -> None:
    affine = np.eye(4)
    affine[:3, :3] = np.array([[0, 0, 3.0], [0, 0.7, 0], [0.7, 0, 0]])  # slices along z
    axial = Volume(np.zeros((6, 32, 32), np.float32), affine)
    with pytest.raises(ValueError, match="cannot detect"):
        segment_automatic(axial, labels=[KneeLabel.MUSCLE])
    with pytest.raises(NotSagittalError):
        segment_automatic(axial, labels=[KneeLabel.FEMUR], progress=False)


def test_prompts_carry_every_detected_box_and_propagate_only_for_tracking_backends() -> None:
    boxes = (Box(3, 1, 2, 10, 12), Box(4, 1, 2, 11, 12))
    structure = Structure(KneeLabel.PATELLA, boxes, (0.9, float("nan")))
    (plain,) = prompts_for([structure])
    (tracked,) = prompts_for([structure], tracking=True)
    assert plain.label == KneeLabel.PATELLA and plain.boxes == boxes and not plain.propagate
    assert tracked.boxes == boxes and tracked.propagate
    assert plain.slices() == [3, 4]
