"""Cartilage thickness in 3D, in mm, along the normal of the subchondral bone surface.

Definition (Chondrometrics' ThCcAB, as in DOSMA and pyMSKT): for each point of the
bone-cartilage interface (cAB), the thickness is the distance, along the outward normal of
the bone surface, from that point to the articular surface (where the bone-plus-cartilage
solid ends). Statistics are weighted by the interface area each point stands for.

Everything is computed in physical space from the volume's affine, so oblique orientations
and anisotropic voxels are handled exactly:

1. the bone mask ``B`` and the bone-plus-plate mask ``BC`` are smoothed with a Gaussian of
   half a voxel along each array axis, which removes the voxel staircase while leaving a
   flat boundary in place (the level 0.5 of a smoothed binary mask lies halfway between
   inside and outside voxel centres; the staircase ripple left is below 1% of a voxel);
2. the bone surface is the 0.5 isosurface of ``B`` (marching cubes), mapped to LPS mm;
   its points covered by the plate form the interface;
3. from each interface point a ray follows the bone's outward normal (the gradient of the
   bone mask smoothed over one voxel, transformed by the affine: a tilted normal would
   overestimate the thickness) until ``BC`` falls below 0.5, found by linear interpolation
   between samples a quarter of the smallest voxel size apart.

Accuracy (tests/biomarkers): within 0.1 mm of the analytic mean thickness for slice
spacings up to 1.5 mm at 0.5-0.6 mm in-plane, in any orientation. The limit is the
through-plane sampling of the plate: with slices of 2 mm or more along the plate's normal
(e.g. axial slices through the tibial plateau) the mask itself is quantised to whole slices
and no method recovers 0.1 mm; rims lose up to a smoothing width, a bias of about -0.02 to
-0.08 mm on small plates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from msklabel.biomarkers.stats import Summary
from msklabel.volume import Volume

#: Rays longer than this (mm) are not cartilage: they are dropped.
MAX_THICKNESS_MM = 12.0
#: Smoothing of the masks for the surfaces, in voxels along each array axis.
SMOOTHING_VOXELS = 0.5
#: Smoothing of the bone mask for its normals, in voxels along each array axis.
NORMAL_SMOOTHING_VOXELS = 1.0
#: A bone-surface point belongs to the interface when the smoothed plate exceeds this there.
_COVERED = 0.25


@dataclass(frozen=True)
class PlateThickness:
    """Thickness of one cartilage plate, sampled at points of its bone interface."""

    points: np.ndarray  #: (N, 3) interface points, LPS mm
    normals: np.ndarray  #: (N, 3) outward bone normals at those points
    thickness: np.ndarray  #: (N,) thickness in mm
    area: np.ndarray  #: (N,) interface area each point stands for, mm^2

    @property
    def interface_area(self) -> float:
        """Area of the bone-cartilage interface (cAB) in mm^2."""
        return float(self.area.sum())

    def summary(self, selection: np.ndarray | None = None) -> Summary:
        """Area-weighted statistics of the thickness, over ``selection`` (a mask) if given."""
        if selection is None:
            return Summary.of(self.thickness, self.area)
        return Summary.of(self.thickness[selection], self.area[selection])


def plate_thickness(
    labels: Volume,
    plate: int,
    bone: int,
    *,
    smoothing_voxels: float = SMOOTHING_VOXELS,
    normal_smoothing_voxels: float = NORMAL_SMOOTHING_VOXELS,
    max_thickness_mm: float = MAX_THICKNESS_MM,
) -> PlateThickness:
    """Measure the plate labelled ``plate`` over the bone labelled ``bone`` in ``labels``."""
    array = np.asarray(labels.array)
    if not np.any(array == plate):
        raise ValueError(f"label {plate} is absent")
    if not np.any(array == bone):
        raise ValueError(f"bone label {bone} is absent")
    spacing = np.array(labels.spacing)
    widest = max(smoothing_voxels, normal_smoothing_voxels)
    margin = np.ceil((max_thickness_mm + 4 * widest * spacing) / spacing).astype(int) + 2
    corner, crop = _crop(array == plate, margin)
    bone_field = _smooth(array[crop] == bone, smoothing_voxels)
    solid_field = _smooth((array[crop] == bone) | (array[crop] == plate), smoothing_voxels)
    if bone_field.max() <= 0.5 or bone_field.min() >= 0.5:
        raise ValueError(f"bone label {bone} has no surface near plate {plate}")

    verts, faces, _, _ = marching_cubes(bone_field, level=0.5, allow_degenerate=False)
    covered = _sample(solid_field - bone_field, verts) > _COVERED
    linear = labels.affine[:3, :3]
    world = (verts + corner) @ linear.T + labels.affine[:3, 3]
    normal_field = _smooth(array[crop] == bone, normal_smoothing_voxels)
    all_normals = _outward_normals(normal_field, verts, linear)
    area = _vertex_areas(world, faces, all_normals)
    normals = all_normals[covered]
    thickness = _ray_exit(
        solid_field, verts[covered], normals, linear, spacing.min() / 4, max_thickness_mm
    )
    keep = np.isfinite(thickness)
    if not keep.any():
        raise ValueError(f"plate {plate} does not cover bone {bone}")
    return PlateThickness(
        points=world[covered][keep],
        normals=normals[keep],
        thickness=thickness[keep],
        area=area[covered][keep],
    )


def thickness_map(labels: Volume, plates: dict[int, PlateThickness]) -> Volume:
    """A float volume holding, in each voxel of each plate, the nearest point's thickness (mm).

    Voxels outside the plates are NaN.
    """
    out = np.full(labels.shape, np.nan, dtype=np.float32)
    for label, measured in plates.items():
        voxels = np.argwhere(np.asarray(labels.array) == label)
        _, nearest = cKDTree(measured.points).query(labels.index_to_patient(voxels))
        out[tuple(voxels.T)] = measured.thickness[nearest]
    return labels.with_array(out)


def _crop(mask: np.ndarray, margin: np.ndarray) -> tuple[np.ndarray, tuple[slice, ...]]:
    """The corner index and slices of ``mask``'s bounding box grown by ``margin`` voxels."""
    found = np.argwhere(mask)
    low = np.maximum(found.min(axis=0) - margin, 0)
    high = np.minimum(found.max(axis=0) + margin + 1, mask.shape)
    return low, tuple(slice(a, b) for a, b in zip(low, high, strict=True))


def _smooth(mask: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(mask.astype(np.float32), sigma, mode="nearest")


def _sample(field: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Trilinear values of ``field`` at fractional indices ``(..., 3)``."""
    flat = index.reshape(-1, 3).T
    values = ndimage.map_coordinates(field, flat, order=1, mode="nearest")
    return values.reshape(index.shape[:-1])


def _vertex_areas(world: np.ndarray, faces: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """A third of the area of the triangles around each vertex (mm^2), each triangle
    projected on the vertex's smooth normal, so that the voxel staircase adds no area."""
    a, b, c = (world[faces[:, i]] for i in range(3))
    cross = 0.5 * np.cross(b - a, c - a)  # area times unit facet normal
    area = np.zeros(len(world))
    for i in range(3):
        projected = np.abs(np.einsum("ij,ij->i", cross, normals[faces[:, i]]))
        np.add.at(area, faces[:, i], projected / 3.0)
    return area


def _outward_normals(field: np.ndarray, verts: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """Unit normals in LPS pointing out of the solid whose smoothed mask is ``field``."""
    index_gradient = np.stack([_sample(g, verts) for g in np.gradient(field)], axis=-1)
    world_gradient = index_gradient @ np.linalg.inv(linear)  # = inv(A).T @ g per point
    length = np.linalg.norm(world_gradient, axis=1, keepdims=True)
    return -world_gradient / np.maximum(length, 1e-12)


def _ray_exit(
    field: np.ndarray,
    starts: np.ndarray,
    normals: np.ndarray,
    linear: np.ndarray,
    step: float,
    limit: float,
) -> np.ndarray:
    """Distance (mm) along each normal from ``starts`` (indices) to where ``field`` < 0.5.

    NaN where the ray does not leave the solid within ``limit`` mm, or starts outside it.
    """
    distances = np.arange(0.0, limit + step, step)
    directions = normals @ np.linalg.inv(linear).T  # index steps per mm along each normal
    result = np.full(len(starts), np.nan)
    chunk = max(1, 4_000_000 // len(distances))
    for begin in range(0, len(starts), chunk):
        part = slice(begin, begin + chunk)
        path = starts[part, None, :] + distances[None, :, None] * directions[part, None, :]
        values = _sample(field, path)
        outside = values < 0.5
        first = np.argmax(outside, axis=1)
        valid = outside.any(axis=1) & (first > 0)
        rows = np.flatnonzero(valid)
        k = first[rows]
        before, after = values[rows, k - 1], values[rows, k]
        fraction = (before - 0.5) / np.maximum(before - after, 1e-12)
        result[begin + rows] = distances[k - 1] + fraction * step
    return result
