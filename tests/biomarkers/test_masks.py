"""Which plate voxels count as inside a bone (``MaskFigures.enclosed``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from msklabel.biomarkers.masks import MaskFigures
from msklabel.labels import KneeLabel
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
