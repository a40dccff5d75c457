"""Muscle volumes and cross-sectional areas on analytic thighs, oblique and anisotropic."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from msklabel.biomarkers.muscle import measure_thigh, thigh_axis
from msklabel.labels import ThighLabel
from msklabel.volume import Volume

#: Femur: cylinder of this radius and half-length (mm) centred on the origin.
FEMUR_RADIUS, FEMUR_HALF = 10.0, 80.0
#: Quadriceps: ellipsoid of revolution about a line parallel to the femur, offset by
#: OFFSET mm, radius QUAD_RADIUS, half-length QUAD_HALF, centred QUAD_SHIFT mm along the axis.
QUAD_RADIUS, QUAD_HALF, QUAD_SHIFT, OFFSET = 22.0, 60.0, 20.0, 40.0
#: Hamstrings: cylinder on the other side of the femur.
HAM_RADIUS, HAM_HALF = 16.0, 55.0
#: Relative tolerance on volumes and areas. One section of a round muscle is digitised at
#: the voxel size in the section plane: the CSA of the 16 mm cylinder varies by up to 1.5%
#: along it on the coronal-oblique grid (3 mm slices nearly in the section plane).
TOLERANCE = 0.02


def _thigh(axis: np.ndarray | None, spacing, grid_angles, femur: bool = True) -> Volume:
    """Femur (if ``femur``), quadriceps and hamstrings along ``axis`` (default the grid's
    slice normal) on a grid of ``spacing`` whose axes are rotated by ``grid_angles``."""
    rotation = Rotation.from_euler("zyx", grid_angles, degrees=True).as_matrix()
    axis = rotation[:, 0] if axis is None else axis
    side = np.cross(axis, [1.0, 0.0, 0.0])
    side /= np.linalg.norm(side)
    frame = np.stack([axis, side, np.cross(axis, side)])
    reach = np.array([FEMUR_HALF, OFFSET + QUAD_RADIUS, QUAD_RADIUS]) + 2
    corners = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]) * reach
    linear = rotation @ np.diag(spacing)
    index = (corners @ frame) @ np.linalg.inv(linear).T
    low = np.floor(index.min(axis=0)) - 1
    shape = tuple(int(n) for n in np.ceil(index.max(axis=0)) + 2 - low)
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = linear @ low
    grid = np.stack(np.indices(shape), axis=-1).astype(np.float32)
    t, x, y = np.moveaxis((grid @ affine[:3, :3].T + affine[:3, 3]) @ frame.T, -1, 0)
    array = np.zeros(shape, np.uint8)
    if femur:
        array[(np.abs(t) <= FEMUR_HALF) & (x**2 + y**2 <= FEMUR_RADIUS**2)] = ThighLabel.FEMUR
    quad = ((t - QUAD_SHIFT) / QUAD_HALF) ** 2 + ((x - OFFSET) ** 2 + y**2) / QUAD_RADIUS**2
    array[quad <= 1] = ThighLabel.QUADRICEPS
    hamstrings = (np.abs(t) <= HAM_HALF) & ((x + OFFSET) ** 2 + y**2 <= HAM_RADIUS**2)
    array[hamstrings] = ThighLabel.HAMSTRINGS
    return Volume(array, affine)


def _expected(femur: bool) -> dict[tuple, float]:
    """Analytic truths, keyed by the arguments of ``Measurements.get``."""
    quad_area = np.pi * QUAD_RADIUS**2
    # with no femur the mid-thigh level is the middle of the muscles' extent
    middle = 0.0 if femur else 0.5 * (QUAD_SHIFT + QUAD_HALF - HAM_HALF)
    return {
        ("quadriceps", "volume", None, None): 4 / 3 * quad_area * QUAD_HALF,
        ("quadriceps", "cross_sectional_area", "max", None): quad_area,
        ("quadriceps", "cross_sectional_area", None, "mid_thigh"): quad_area
        * (1 - ((middle - QUAD_SHIFT) / QUAD_HALF) ** 2),
        ("hamstrings", "volume", None, None): np.pi * HAM_RADIUS**2 * 2 * HAM_HALF,
        ("hamstrings", "cross_sectional_area", "max", None): np.pi * HAM_RADIUS**2,
        ("hamstrings", "cross_sectional_area", None, "mid_thigh"): np.pi * HAM_RADIUS**2,
    }


def _check(measured, expected: dict[tuple, float]) -> None:
    for key, value in expected.items():
        assert measured.get(*key) == pytest.approx(value, rel=TOLERANCE), key


GRIDS = {
    "axial-oblique": ((4.0, 0.9, 0.8), (12, -72, 9)),
    "coronal-oblique": ((3.0, 1.0, 0.7), (-15, 8, 80)),
}


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_csa_and_volume_along_oblique_femur(grid):
    axis = Rotation.from_euler("xy", [17, 11], degrees=True).apply([0.0, 0.0, 1.0])
    labels = _thigh(axis, *GRIDS[grid])
    assert abs(thigh_axis(labels) @ axis) > np.cos(np.radians(0.5))
    _check(measure_thigh(labels), _expected(femur=True))


def test_slice_normal_without_femur():
    spacing, angles = GRIDS["axial-oblique"]
    labels = _thigh(None, spacing, angles, femur=False)
    normal = labels.affine[:3, 0] / spacing[0]
    assert thigh_axis(labels) == pytest.approx(normal)
    expected = _expected(femur=False)
    # the cylinder's flat ends lie in slices here: its volume is quantised to whole slices
    del expected[("hamstrings", "volume", None, None)]
    _check(measure_thigh(labels), expected)
