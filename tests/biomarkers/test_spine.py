"""Disc heights on an analytic wedge disc between two vertebral bodies, tilted obliquely."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from msklabel.biomarkers.spine import REGIONS, disc_heights, measure_spine
from msklabel.labels import SpineLabel
from msklabel.volume import Volume

#: Disc height at its antero-posterior middle, its footprint's half-depth (antero-posterior)
#: and half-width (lateral), and the vertebral body height, in mm.
HEIGHT, HALF_DEPTH, HALF_WIDTH, BODY = 9.0, 17.0, 22.0, 24.0
#: Height tolerance (mm): a sixth of the smallest voxel; measured errors are below 0.07 mm.
TOLERANCE = 0.1


def _grid(rotation: np.ndarray, spacing: tuple[float, float, float], extent: np.ndarray):
    """Affine and shape of a grid with axes ``rotation``'s columns covering ``extent`` points."""
    linear = rotation @ np.diag(spacing)
    index = extent @ np.linalg.inv(linear).T
    low = np.floor(index.min(axis=0)) - 2
    shape = tuple(int(n) for n in np.ceil(index.max(axis=0)) + 3 - low)
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = linear @ low
    return affine, shape


def _spine(wedge_deg: float, spacing: tuple[float, float, float], grid_angles) -> Volume:
    """L4, L4-L5 and L5 around the origin: the disc's mid-plane has normal ``axis``; its
    end plates are tilted by +-wedge/2 about the lateral axis, mirror images of each other, so
    the centroids of the bodies lie on ``axis`` and the height along it at antero-posterior
    position u is HEIGHT + 2 u tan(wedge/2)."""
    axis = Rotation.from_euler("xy", [14, -9], degrees=True).apply([0.0, 0.0, -1.0])
    anterior = np.array([0.0, -1.0, 0.0]) + axis[1] * axis
    anterior /= np.linalg.norm(anterior)
    frame = np.stack([axis, anterior, np.cross(axis, anterior)])
    reach = HEIGHT / 2 + BODY + HALF_DEPTH * np.tan(np.radians(wedge_deg))
    corners = np.array(
        [[s, u, v] for s in (-reach, reach) for u in (-HALF_DEPTH, HALF_DEPTH) for v in (-1, 1)]
    )
    corners[:, 2] *= HALF_WIDTH
    rotation = Rotation.from_euler("zyx", grid_angles, degrees=True).as_matrix()
    affine, shape = _grid(rotation, spacing, corners @ frame)
    index = np.stack(np.indices(shape), axis=-1).astype(np.float64)
    local = (index @ affine[:3, :3].T + affine[:3, 3]) @ frame.T
    s, u, v = np.moveaxis(local, -1, 0)
    plate = HEIGHT / 2 + u * np.tan(np.radians(wedge_deg / 2))
    footprint = (np.abs(u) <= HALF_DEPTH) & (np.abs(v) <= HALF_WIDTH)
    array = np.zeros(shape, np.uint8)
    array[footprint & (np.abs(s) <= plate)] = SpineLabel.L4_L5
    array[footprint & (s < -plate) & (s >= -plate - BODY)] = SpineLabel.L4
    array[footprint & (s > plate) & (s <= plate + BODY)] = SpineLabel.L5
    return Volume(array, affine)


def _expected(wedge_deg: float) -> dict[str, float]:
    """Mean height over each region: the height at the region's middle (it is linear in u)."""
    slope = 2 * np.tan(np.radians(wedge_deg / 2))
    return {
        region: HEIGHT + slope * HALF_DEPTH * (1 - (start + end))
        for region, (start, end) in REGIONS.items()
    }


@pytest.mark.parametrize("wedge_deg", [0.0, 10.0])
@pytest.mark.parametrize(
    ("spacing", "grid_angles"),
    [((3.5, 0.7, 0.6), (8, 12, 11)), ((2.0, 0.6, 0.6), (10, -75, 5))],
    ids=["sagittal-oblique", "axial-oblique"],
)
def test_disc_heights(wedge_deg, spacing, grid_angles):
    labels = _spine(wedge_deg, spacing, grid_angles)
    measured = disc_heights(labels, SpineLabel.L4_L5)
    expected = _expected(wedge_deg)
    assert set(measured) == set(REGIONS)
    for region, height in expected.items():
        assert measured[region] == pytest.approx(height, abs=TOLERANCE), region


def test_measure_spine_reports_heights_and_volumes():
    labels = _spine(10.0, (3.5, 0.7, 0.6), (8, 12, 11))
    measurements = measure_spine(labels)
    volume = 2 * HALF_DEPTH * 2 * HALF_WIDTH * HEIGHT  # the wedge's mean height is HEIGHT
    assert measurements.get("l4_l5", "volume") == pytest.approx(volume, rel=0.02)
    assert measurements.get("l4", "volume") == pytest.approx(
        2 * HALF_DEPTH * 2 * HALF_WIDTH * BODY, rel=0.02
    )
    for region, height in _expected(10.0).items():
        assert measurements.get("l4_l5", "height", "mean", region) == pytest.approx(
            height, abs=TOLERANCE
        )
    assert {m.unit for m in measurements if m.quantity == "height"} == {"mm"}


def test_missing_vertebra_is_refused():
    labels = _spine(0.0, (3.5, 0.7, 0.6), (8, 12, 11))
    array = np.where(labels.array == SpineLabel.L5, 0, labels.array).astype(np.uint8)
    with pytest.raises(ValueError, match="l5 is absent"):
        disc_heights(labels.with_array(array), SpineLabel.L4_L5)
    assert all(m.quantity == "volume" for m in measure_spine(labels.with_array(array)))
