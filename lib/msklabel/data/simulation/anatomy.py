"""The simulated knee's anatomy: a real DESS label map, mirrored to a left knee, posed,
scaled and elastically deformed, inside a limb of skin, fat, muscle, ligament-like tissue
and a joint-fluid film.

Everything is a pull-back: a point of the simulated (target) space maps to a point of the
source label map, where the structure label is read (nearest) and the surroundings are
decided from distance fields (trilinear), so edges stay sub-voxel smooth.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from msklabel.data.labelmaps import DESS_LABELS, FIBULA_LABEL, read_nrrd_labels
from msklabel.data.simulation.tissue import TISSUE_INDEX
from msklabel.data.threads import parallel_map
from msklabel.labels import CARTILAGE_PLATES, MENISCI, KneeLabel
from msklabel.volume import Volume

_BONES = (KneeLabel.FEMUR, KneeLabel.TIBIA, KneeLabel.PATELLA, FIBULA_LABEL)
#: Coarse grid of the distance fields: the source's in-plane pixels taken two by two.
_COARSE = (2, 2, 1)
#: Spacing (mm) of the random control grids (elastic deformation, surroundings noise).
_CONTROL_MM = 16.0


@dataclass(frozen=True)
class Source:
    """A label map (KneeLabel values and the fibula) and its distance fields (mm) on a grid
    coarser in-plane: to the nearest structure, to the nearest cartilage or meniscus, and,
    inside bone, to the bone's surface."""

    labels: Volume
    coarse_affine: np.ndarray
    to_structure: np.ndarray
    to_joint: np.ndarray
    in_bone: np.ndarray
    centre: np.ndarray  # centroid of the bones, LPS mm


@functools.lru_cache(maxsize=2)
def dess_source() -> Source:
    """The sample's DESS label map (right knee, bones, cartilage, menisci, fibula)."""
    from msklabel.data.sample import fetch_sample

    return make_source(read_nrrd_labels(fetch_sample().dess_labels, DESS_LABELS))


def make_source(labels: Volume) -> Source:
    """The distance fields of a label map."""
    coarse = labels.array[:: _COARSE[0], :: _COARSE[1], :: _COARSE[2]]
    affine = labels.affine @ np.diag([*_COARSE, 1.0])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    structure = coarse > 0
    joint = np.isin(coarse, [*CARTILAGE_PLATES, *MENISCI])
    bone = np.isin(coarse, _BONES)
    bone_index = np.argwhere(np.isin(labels.array, _BONES)).mean(0)
    to_structure, to_joint, in_bone = parallel_map(
        lambda inside: ndimage.distance_transform_edt(inside, sampling=spacing).astype(np.float32),
        [~structure, ~joint, bone],
    )
    return Source(
        labels=labels,
        coarse_affine=affine,
        to_structure=to_structure,
        to_joint=to_joint,
        in_bone=in_bone,
        centre=labels.index_to_patient(bone_index),
    )


@dataclass(frozen=True)
class Anatomy:
    """One subject: the pose (target -> source), a smooth displacement, and the random
    parameters of the surroundings. :meth:`tissue_at` gives label and tissue anywhere."""

    source: Source
    matrix: np.ndarray  # 3x3, target offset from the target centre -> source offset
    target_centre: np.ndarray  # LPS mm
    displacement: np.ndarray  # [3, n, n, n] mm on the control grid
    control_origin: np.ndarray
    noise: np.ndarray  # [4, n, n, n] unit random fields: margin, muscle, ligament, effusion
    anterior_margin: float
    posterior_margin: float
    skin_mm: float
    subcutaneous_mm: float
    film_mm: float
    cortex_mm: float
    #: Joint effusion: fluid this far (mm) from the cartilage and menisci (0: none, the
    #: normal film of ``film_mm`` only).
    effusion_mm: float = 0.0

    def source_points(self, points: np.ndarray) -> np.ndarray:
        """LPS points ``[..., 3]`` of the target mapped into the source."""
        u = _sample_control(self.displacement, self.control_origin, points)
        offset = points - u - self.target_centre
        return offset @ self.matrix.T + self.source.centre

    def tissue_at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Truth label (KneeLabel values; fibula 0) and tissue index
        (:data:`~msklabel.data.simulation.tissue.TISSUE_INDEX`) at target ``points``."""
        src = self.source_points(points)
        labels = _sample(self.source.labels.array, self.source.labels.affine, src, order=0)
        coarse = (self.source.coarse_affine, src)
        to_structure = _sample(self.source.to_structure, *coarse, order=1, mode="nearest")
        to_joint = _sample(self.source.to_joint, *coarse, order=1, mode="nearest")
        in_bone = _sample(self.source.in_bone, *coarse, order=1)
        noise = _sample_control(self.noise, self.control_origin, points)
        rel = src - self.source.centre
        posterior = _smoothstep((rel[..., 1] + 15.0) / 50.0)
        margin = (
            self.anterior_margin
            + (self.posterior_margin - self.anterior_margin) * posterior
            + 5.0 * noise[..., 0]
        )
        depth = margin - to_structure  # mm inside the skin
        superior = _smoothstep((rel[..., 2] - 25.0) / 25.0)
        muscle = noise[..., 1] + 1.2 * posterior + 0.9 * superior - 0.9 > 0
        tissue = np.full(labels.shape, TISSUE_INDEX["air"], np.uint8)
        inside = depth > 0
        tissue[inside] = TISSUE_INDEX["skin"]
        tissue[depth > self.skin_mm] = TISSUE_INDEX["fat"]
        deep = depth > self.skin_mm + self.subcutaneous_mm
        tissue[deep & muscle & (to_structure > 2.0)] = TISSUE_INDEX["muscle"]
        ligament = (noise[..., 2] > 1.0) & (to_structure < 6.0) & deep
        tissue[ligament] = TISSUE_INDEX["ligament"]
        film = max(self.film_mm, self.effusion_mm)
        fluid = (to_joint < film) | ((noise[..., 3] > 1.2) & (to_structure < 4.0))
        tissue[fluid & inside] = TISSUE_INDEX["fluid"]
        bone = np.isin(labels, _BONES)
        tissue[bone] = np.where(
            in_bone[bone] < self.cortex_mm, TISSUE_INDEX["cortex"], TISSUE_INDEX["marrow"]
        )
        tissue[np.isin(labels, CARTILAGE_PLATES)] = TISSUE_INDEX["cartilage"]
        tissue[np.isin(labels, MENISCI)] = TISSUE_INDEX["meniscus"]
        truth = np.where(labels == FIBULA_LABEL, 0, labels).astype(np.uint8)
        truth[(truth == 0) & (tissue == TISSUE_INDEX["muscle"])] = KneeLabel.MUSCLE
        truth[(truth == 0) & (tissue == TISSUE_INDEX["fat"])] = KneeLabel.FAT
        return truth, tissue


def random_anatomy(
    source: Source,
    rng: np.random.Generator,
    *,
    deformation_mm: float = 3.0,
    rotation_deg: float = 8.0,
    scale_range: tuple[float, float] = (0.9, 1.1),
) -> Anatomy:
    """A left knee made from ``source`` (a right knee): mirrored across its sagittal plane,
    rotated (up to ``rotation_deg`` about each axis), scaled (one factor from
    ``scale_range`` and up to 4 % more per axis), shifted (up to 5 mm) and deformed by a
    smooth random displacement (standard deviation ``deformation_mm`` per axis, correlated
    over about :data:`_CONTROL_MM`)."""
    angles = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, 3))
    scale = rng.uniform(*scale_range) * rng.uniform(0.96, 1.04, 3)
    forward = _rotation(angles) @ np.diag(scale) @ np.diag([-1.0, 1.0, 1.0])
    centre = source.centre + rng.uniform(-5.0, 5.0, 3)
    extent = 200.0
    n = int(extent / _CONTROL_MM) + 1
    origin = centre - extent / 2
    raw = rng.standard_normal((7, n, n, n))
    smooth = np.stack([ndimage.gaussian_filter(f, 1.0, mode="wrap") for f in raw])
    smooth /= smooth.std(axis=(1, 2, 3), keepdims=True)
    return Anatomy(
        source=source,
        matrix=np.linalg.inv(forward),
        target_centre=centre,
        displacement=(deformation_mm * smooth[:3]).astype(np.float32),
        control_origin=origin,
        noise=smooth[3:].astype(np.float32),
        anterior_margin=rng.uniform(8.0, 14.0),
        posterior_margin=rng.uniform(40.0, 60.0),
        skin_mm=rng.uniform(1.5, 2.5),
        subcutaneous_mm=rng.uniform(4.0, 12.0),
        film_mm=rng.uniform(0.5, 1.3),
        cortex_mm=rng.uniform(0.6, 1.2),
    )


def unposed_labels(source: Source, grid: Volume, centre: np.ndarray) -> np.ndarray:
    """The source mirrored to a left knee about its centroid and nothing else, sampled on
    ``grid`` whose centre is ``centre``: what :func:`random_anatomy` deforms."""
    points = _grid_points(grid)
    src = (points - centre) * np.array([-1.0, 1.0, 1.0]) + source.centre
    labels = _sample(source.labels.array, source.labels.affine, src, order=0)
    return np.where(labels == FIBULA_LABEL, 0, labels).astype(np.uint8)


def _grid_points(grid: Volume) -> np.ndarray:
    index = np.stack(np.meshgrid(*[np.arange(s) for s in grid.shape], indexing="ij"), -1)
    return grid.index_to_patient(index)


def _rotation(angles: np.ndarray) -> np.ndarray:
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _sample(
    array: np.ndarray, affine: np.ndarray, points: np.ndarray, order: int, mode: str = "constant"
) -> np.ndarray:
    inverse = np.linalg.inv(affine)
    index = points @ inverse[:3, :3].T + inverse[:3, 3]
    coords = np.moveaxis(index, -1, 0).reshape(3, -1)
    out = ndimage.map_coordinates(array, coords, order=order, mode=mode)
    return out.reshape(points.shape[:-1])


def _sample_control(fields: np.ndarray, origin: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Fields ``[c, n, n, n]`` on the isotropic control grid at ``points`` -> ``[..., c]``."""
    coords = np.moveaxis((points - origin) / _CONTROL_MM, -1, 0).reshape(3, -1)
    out = [
        ndimage.map_coordinates(f, coords, order=1, mode="nearest").reshape(points.shape[:-1])
        for f in fields
    ]
    return np.stack(out, -1)
