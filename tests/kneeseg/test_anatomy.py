"""Anatomical rules: plates on their bone, menisci in the joint, bones whole, sides named."""

from __future__ import annotations

import numpy as np
import pytest

from msklabel.kneeseg.anatomy import Sides, knee_labels
from msklabel.kneeseg.classes import SegClass
from msklabel.labels import KneeLabel
from msklabel.volume import Volume


def _sagittal(shape=(12, 60, 60), spacing=(3.0, 1.0, 1.0)) -> Volume:
    """Sagittal slices along patient x (left), rows inferior, columns posterior."""
    affine = np.eye(4)
    affine[:3, :3] = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]).T * np.asarray(spacing)
    return Volume(np.zeros(shape, np.float32), affine)


def _knee() -> np.ndarray:
    """Femur above tibia on every slice, cartilage on both, menisci between at the rims."""
    classes = np.zeros((12, 60, 60), np.uint8)
    classes[:, 5:25, 10:50] = SegClass.FEMUR
    classes[:, 25:27, 12:48] = SegClass.FEMORAL_CARTILAGE
    classes[:, 30:32, 12:48] = SegClass.TIBIAL_CARTILAGE
    classes[:, 32:55, 10:50] = SegClass.TIBIA
    classes[:, 27:30, 10:13] = SegClass.MENISCUS
    classes[:, 27:30, 47:50] = SegClass.MENISCUS
    return classes


def test_plates_and_menisci_on_their_bones_are_kept_and_sided() -> None:
    reference = _sagittal()
    labels, sides = knee_labels(_knee(), reference, "right", "header")
    assert sides == Sides("right", "header")
    # a right knee: medial is towards patient left (+x, the higher slices here)
    assert (labels[8:, 30:32] == KneeLabel.MEDIAL_TIBIAL_CARTILAGE).any()
    assert (labels[:4, 30:32] == KneeLabel.LATERAL_TIBIAL_CARTILAGE).any()
    assert (labels[8:, 27:30, 10:13] == KneeLabel.MEDIAL_MENISCUS).all()
    left, _ = knee_labels(_knee(), reference, "left")
    assert (left[8:, 30:32] == KneeLabel.LATERAL_TIBIAL_CARTILAGE).any()
    assert (labels[:, 25:27, 12:48] == KneeLabel.FEMORAL_CARTILAGE).all()


def test_cartilage_away_from_its_bone_and_menisci_outside_the_joint_are_dropped() -> None:
    classes = _knee()
    classes[:, 3:5, 20:30] = SegClass.FEMORAL_CARTILAGE  # on the femur's top...
    classes[:, 45:48, 52:56] = SegClass.FEMORAL_CARTILAGE  # ...but this lies by the tibia
    classes[:, 56:59, 20:30] = SegClass.MENISCUS  # below the tibia
    classes[:, 40:44, 52:56] = SegClass.PATELLAR_CARTILAGE  # no patella at all
    labels, _ = knee_labels(classes, _sagittal(), "right")
    assert (labels[:, 3:5, 20:30] == KneeLabel.FEMORAL_CARTILAGE).all()
    assert not labels[:, 45:48, 52:56].any()
    assert not labels[:, 56:59].any()
    assert not labels[:, 40:44, 52:56].any()


def test_bones_keep_their_largest_piece_without_holes() -> None:
    classes = _knee()
    classes[:, 10:14, 20:24] = SegClass.BACKGROUND  # dark marrow the network missed
    classes[:, 1:3, 1:4] = SegClass.TIBIA  # a stray piece far from the tibia
    labels, _ = knee_labels(classes, _sagittal(), "right")
    assert (labels[:, 10:14, 20:24] == KneeLabel.FEMUR).all()
    assert not labels[:, 1:3, 1:4].any()


def test_a_patella_takes_the_likely_voxels_joined_to_it_and_nothing_else() -> None:
    classes = _knee()
    classes[4:8, 10:20, 52:58] = SegClass.PATELLA  # the part the network called patella
    likely = np.zeros(classes.shape, bool)
    likely[3:9, 8:22, 52:58] = True  # its unsure rim: one slice and two rows beyond it
    likely[0:2, 40:44, 52:58] = True  # an unsure spot apart from it
    likely[4:8, 20:24, 40:50] = True  # unsure voxels the network called femur
    labels, _ = knee_labels(classes, _sagittal(), "right", likely={SegClass.PATELLA: likely})
    assert (labels[3:9, 8:22, 52:58] == KneeLabel.PATELLA).all()
    assert not labels[0:2, 40:44, 52:58].any()
    assert (labels[4:8, 20:24, 40:50] == KneeLabel.FEMUR).all()
    unchanged, _ = knee_labels(classes, _sagittal(), "right")
    assert (unchanged == KneeLabel.PATELLA).sum() == 4 * 10 * 6


@pytest.mark.parametrize(("fibula_slices", "medial_slices"), [(slice(0, 3), 8), (slice(9, 12), 0)])
def test_without_a_header_the_fibula_tells_the_lateral_side(fibula_slices, medial_slices) -> None:
    classes = _knee()
    classes[fibula_slices, 40:55, 52:58] = SegClass.FIBULA
    labels, sides = knee_labels(classes, _sagittal(), None)
    chosen = slice(medial_slices, medial_slices + 4)
    assert (labels[chosen, 30:32] == KneeLabel.MEDIAL_TIBIAL_CARTILAGE).any()
    assert sides == Sides("right" if medial_slices == 8 else "left", "fibula")


def test_with_no_header_and_no_fibula_a_right_knee_is_assumed_and_said_so() -> None:
    labels, sides = knee_labels(_knee(), _sagittal(), None)
    assert sides.assumed and sides.laterality == "right"
    assert (labels[8:, 30:32] == KneeLabel.MEDIAL_TIBIAL_CARTILAGE).any()


def test_a_fibula_on_both_sides_does_not_tell_the_side() -> None:
    classes = _knee()
    classes[0:3, 40:55, 52:58] = SegClass.FIBULA  # by the tibia towards patient right
    classes[10:12, 40:55, 52:58] = SegClass.FIBULA  # and two thirds as much on the other side
    labels, sides = knee_labels(classes, _sagittal(), None)
    assert sides == Sides("right", "assumed")  # most of it lies right: a right knee, doubted
    assert (labels[8:, 30:32] == KneeLabel.MEDIAL_TIBIAL_CARTILAGE).any()


def test_a_small_stray_piece_does_not_unsettle_a_clear_fibula() -> None:
    classes = _knee()
    classes[10:12, 40:55, 52:58] = SegClass.FIBULA  # by the tibia towards patient left
    classes[0:1, 50:55, 52:56] = SegClass.FIBULA  # a stray piece on the other side
    _, sides = knee_labels(classes, _sagittal(), None)
    assert sides == Sides("left", "fibula")


def test_reaches_from_the_bounding_box_equal_the_whole_volume_distance_map() -> None:
    from scipy import ndimage

    from msklabel.kneeseg.anatomy import _within

    noise = ndimage.gaussian_filter(np.random.default_rng(0).random((10, 60, 50)), 2.0)
    mask = noise > np.percentile(noise, 95)
    mask[:, :8] = False  # the bone away from one side, so the box is smaller than the volume
    spacing = (3.0, 0.5, 0.7)
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing)
    reaches = _within(mask, spacing, {2.0, 5.0, 7.0})
    assert mask.any() and set(reaches) == {2.0, 5.0, 7.0}
    for limit, near in reaches.items():
        assert np.array_equal(near, distance <= limit), limit
    assert not _within(np.zeros((4, 5, 6), bool), spacing, {2.0})[2.0].any()
