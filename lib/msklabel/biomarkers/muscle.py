"""Thigh muscle volumes (mm^3) and cross-sectional areas (mm^2), in physical space.

Axis: the femur's long axis, the principal axis (largest variance) of the femur's voxel
centres in LPS mm; with no femur labelled, the slice normal of the volume. Levels are
positions along the axis; the *mid-thigh* level is the middle of the femur's extent along it
(of the muscles' extent with no femur). A thigh series usually cuts the femur, so this is the
middle of the imaged femur, not of the trochanter-epicondyle distance.

Cross-sectional area (CSA) at a level: the area of the section, perpendicular to the axis, of
the mask taken as a solid of voxel cells (the parallelepipeds of the affine). It equals the
voxel volume times the density of the cells' positions along the axis: the histogram of the
voxel centres' levels convolved with one cell's profile (three boxes of widths |e_k . axis|,
e_k the affine's columns). The profile is then averaged over a slab as thick as the largest
voxel (:func:`csa_profile`), which removes the ripple of the voxel staircase on sections
oblique to the grid. Max CSA is the largest value of that profile.
"""

from __future__ import annotations

import numpy as np

from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.biomarkers.volumes import label_volumes
from msklabel.labels import THIGH_MUSCLES, ThighLabel
from msklabel.volume import Volume

#: Region code -> meaning, for the SR's finding sites.
REGION_NAMES = {"mid_thigh": "Mid-thigh level"}
#: Bins of the area profiles per smallest voxel size.
BINS_PER_VOXEL = 20


def measure_thigh(labels: Volume) -> Measurements:
    """Volume of every labelled structure, and for each muscle its max CSA (derivation
    ``max``) and its CSA at the mid-thigh level (region ``mid_thigh``)."""
    measurements = Measurements()
    for value, volume in label_volumes(labels, ThighLabel).items():
        measurements.add(Measurement(ThighLabel(value).key, "volume", volume))
    array = np.asarray(labels.array)
    axis = thigh_axis(labels)
    femur = array == ThighLabel.FEMUR
    reference = femur if femur.any() else np.isin(array, [int(m) for m in THIGH_MUSCLES])
    if not reference.any():
        return measurements
    extent = labels.index_to_patient(np.argwhere(reference)) @ axis
    middle = 0.5 * (extent.min() + extent.max())
    for muscle in THIGH_MUSCLES:
        mask = array == muscle
        if not mask.any():
            continue
        levels, areas = csa_profile(labels, mask, axis)
        mid = float(np.interp(middle, levels, areas, left=0.0, right=0.0))
        for value, derivation, region in ((areas.max(), "max", None), (mid, None, "mid_thigh")):
            measurements.add(
                Measurement(muscle.key, "cross_sectional_area", value, derivation, region)
            )
    return measurements


def thigh_axis(labels: Volume) -> np.ndarray:
    """Unit vector (LPS) of the femur's long axis, or the slice normal with no femur."""
    femur = np.argwhere(np.asarray(labels.array) == ThighLabel.FEMUR)
    if len(femur) < 2:
        normal = labels.affine[:3, 0]
        return normal / np.linalg.norm(normal)
    points = labels.index_to_patient(femur)
    _, vectors = np.linalg.eigh(np.cov(points, rowvar=False))
    return vectors[:, -1]


def csa_profile(
    labels: Volume, mask: np.ndarray, axis: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Levels (mm along the unit ``axis`` from the LPS origin) and the CSA (mm^2) of ``mask``
    there, averaged over a slab as thick as the largest voxel (see the module's docstring)."""
    spacing = np.array(labels.spacing)
    step = spacing.min() / BINS_PER_VOXEL
    levels = labels.index_to_patient(np.argwhere(mask)) @ axis
    kernel = _box(spacing.max(), step)
    for width in np.abs(labels.affine[:3, :3].T @ axis):
        kernel = np.convolve(kernel, _box(width, step))
    half = len(kernel) // 2
    start = levels.min()
    counts = np.bincount(np.rint((levels - start) / step).astype(np.int64))
    areas = np.convolve(counts, kernel) * labels.voxel_volume / step
    return start + step * (np.arange(len(areas)) - half), areas


def _box(width: float, step: float) -> np.ndarray:
    """A centred box of ``width`` mm on bins ``step`` mm wide, summing to 1 (odd length)."""
    if width < 1e-6 * step:
        return np.ones(1)
    reach = int(np.ceil(width / (2 * step) - 0.5))
    edges = (np.arange(-reach, reach + 2) - 0.5) * step
    overlap = np.clip(edges, -width / 2, width / 2)
    return np.diff(overlap) / width
