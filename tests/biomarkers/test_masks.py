"""Which plate voxels count as inside a bone (``MaskFigures.enclosed``), how many parts
a plate or meniscus may have (``fragment_parts``), and how wide a bone is (``width_mm``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from msklabel.biomarkers.masks import MaskFigures, fragment_parts
from msklabel.biomarkers.quality import DEFAULT_RULES, Verdict
from msklabel.data.labelmaps import DESS_LABELS, RIGHT_KNEE_LABELS, read_nrrd_labels
from msklabel.labels import BONES, KneeLabel
from msklabel.volume import Volume


def _dish(depth_mm: int) -> np.ndarray:
    """A tibia whose top is a dish ``depth_mm`` deep (rim higher than the centre, along both
    horizontal axes), with a cartilage plate lying in the dish on the bone. Axis 1 is up."""
    shape = (40, 40, 40)
    array = np.zeros(shape, np.uint8)
    z, y, x = np.indices(shape)
    r = np.hypot(z - 20, x - 20)
    top = 20 + depth_mm * np.clip(1 - r / 12, 0, 1)  # bone surface height: lowest at the centre
    bone = (r < 15) & (y < 20 + depth_mm) & (y < np.where(r < 12, top, 20 + depth_mm))
    array[bone] = KneeLabel.TIBIA
    plate = (r < 11) & (y >= top) & (y < top + 2.5)
    array[plate & ~bone] = KneeLabel.MEDIAL_TIBIAL_CARTILAGE
    return array


def _inside_share(array: np.ndarray) -> float:
    figures = MaskFigures(Volume(array, np.eye(4)), near_bone_mm=4.0, between_bones_mm=20.0)
    return figures.shape_figures(KneeLabel.MEDIAL_TIBIAL_CARTILAGE)["inside_bone_share"]


def test_the_dish_encloses_its_plate_in_the_horizontal_plane_only() -> None:
    array = _dish(3)
    plate = array == KneeLabel.MEDIAL_TIBIAL_CARTILAGE
    bone = array == KneeLabel.TIBIA
    cross = ndimage.generate_binary_structure(2, 1)
    horizontal = ndimage.binary_fill_holes(bone, structure=np.expand_dims(cross, 1)) & ~bone
    assert (horizontal & plate).sum() > 0.2 * plate.sum()  # one plane rings it
    assert _inside_share(array) == 0.0


@pytest.mark.parametrize("depth_mm", [0, 3])
def test_a_plate_sunk_into_the_bone_is_inside(depth_mm: int) -> None:
    array = _dish(depth_mm)
    array[array == KneeLabel.MEDIAL_TIBIAL_CARTILAGE] = KneeLabel.TIBIA
    array[14:26, 8:14, 14:26] = KneeLabel.MEDIAL_TIBIAL_CARTILAGE
    assert _inside_share(array) == 1.0


def _horns(slice_mm: float, pieces: int = 2) -> float:
    """``fragment_share`` the gate finds for a C-shaped meniscus on sagittal slices
    ``slice_mm`` apart whose body (the outermost slice, which alone joins the horns) is
    missing: its anterior and posterior horns as two parts, plus ``pieces - 2`` specks."""
    array = np.zeros((6, 40, 60), np.uint8)
    array[1:6, 18:22, 8:20] = KneeLabel.LATERAL_MENISCUS  # anterior horn
    array[1:6, 18:22, 40:52] = KneeLabel.LATERAL_MENISCUS  # posterior horn
    for k in range(pieces - 2):
        array[2, 2 + 4 * k : 4 + 4 * k, 28:30] = KneeLabel.LATERAL_MENISCUS
    volume = Volume(array, np.diag([slice_mm, 0.5, 0.5, 1.0]))
    figures = MaskFigures(volume, near_bone_mm=4.0, between_bones_mm=20.0)
    return figures.shape_figures(KneeLabel.LATERAL_MENISCUS)["fragment_share"]


def test_a_meniscus_cut_into_its_horns_by_thick_slices_is_whole() -> None:
    assert fragment_parts(KneeLabel.LATERAL_MENISCUS, 4.0) == 2
    assert _horns(4.0) == 0.0
    assert _horns(4.0, pieces=4) == pytest.approx(8 / (2 * 240 + 8))  # specks still count


def test_on_thin_slices_a_meniscus_and_the_patellar_cartilage_are_one_part() -> None:
    assert _horns(0.7) == pytest.approx(0.5)
    assert fragment_parts(KneeLabel.PATELLAR_CARTILAGE, 0.7) == 1
    assert fragment_parts(KneeLabel.PATELLAR_CARTILAGE, 3.0) == 2
    assert fragment_parts(KneeLabel.MEDIAL_TIBIAL_CARTILAGE, 4.0) == 1  # one sheet always
    assert fragment_parts(KneeLabel.FEMORAL_CARTILAGE, 0.7) == 2  # the condyles


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_width_is_measured_along_left_right_whatever_the_slice_axis(order) -> None:
    """A 20 x 30 x 50 mm block of bone (left-right x anterior-posterior x up-down) on 2 mm
    voxels, its array axes in any order: the outermost voxel centres are 18 mm apart."""
    array = np.zeros((20, 30, 40), np.uint8)
    array[5:15, 5:20, 5:30] = KneeLabel.TIBIA  # axis 0: left-right, 10 voxels of 2 mm
    affine = np.diag([2.0, 2.0, 2.0, 1.0])  # index (0, 1, 2) -> LPS (x, y, z)
    permuted = np.transpose(array, order)
    axes = np.eye(4)[:, [*order, 3]]  # permuted index -> original index
    figures = MaskFigures(Volume(permuted, affine @ axes), 4.0, 20.0)
    assert figures.shape_figures(KneeLabel.TIBIA)["width_mm"] == pytest.approx(18.0)


def test_the_bones_of_both_real_dess_knees_pass_the_width_limits(sample) -> None:
    """The sample's two real label maps (0.36 mm sagittal slices): femur 75 and 87 mm,
    tibia 70 and 81 mm (0.93 of the femur in both), patella 42 and 45 mm wide."""
    for path, table in (
        (sample.dess_labels, DESS_LABELS),
        (sample.right_knee_labels, RIGHT_KNEE_LABELS),
    ):
        figures = MaskFigures(read_nrrd_labels(path, table), 4.0, 20.0)
        for bone in BONES:
            width = figures.shape_figures(bone)["width_mm"]
            band = DEFAULT_RULES.band("width_mm", bone)
            assert band is not None and band.judge(width) == Verdict.PASS, (path.name, bone, width)
        ratio = figures.shape_figures(KneeLabel.TIBIA)["width_ratio"]
        band = DEFAULT_RULES.band("width_ratio", KneeLabel.TIBIA)
        assert band is not None and band.judge(ratio) == Verdict.PASS, (path.name, ratio)


def test_a_femur_on_one_slice_gives_the_tibia_no_width_ratio() -> None:
    """The femur's width is then 0: the femur answers for it, not the tibia."""
    array = np.zeros((20, 30, 40), np.uint8)
    array[5:15, 5:20, 5:15] = KneeLabel.TIBIA
    array[8, 5:20, 20:30] = KneeLabel.FEMUR
    figures = MaskFigures(Volume(array, np.diag([2.0, 2.0, 2.0, 1.0])), 4.0, 20.0)
    assert figures.shape_figures(KneeLabel.FEMUR)["width_mm"] == 0.0
    assert "width_ratio" not in figures.shape_figures(KneeLabel.TIBIA)
    array[12, 5:20, 20:30] = KneeLabel.FEMUR  # two slices 8 mm apart: 18 / 8
    figures = MaskFigures(Volume(array, np.diag([2.0, 2.0, 2.0, 1.0])), 4.0, 20.0)
    assert figures.shape_figures(KneeLabel.TIBIA)["width_ratio"] == pytest.approx(18.0 / 8.0)
