"""Figures of the masks of a knee label map that tell a wrong segmentation from a right one:
box-likeness, fragments, enclosure by bone, nearness to a bone, each bone's left-right
width, the fitted T2 of each plate and meniscus (median, share of fluid) and the signal of
each bone in its image
(:mod:`msklabel.biomarkers.quality` judges them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from msklabel.biomarkers.knee import PLATE_BONES
from msklabel.biomarkers.t2 import FLUID_T2_MS, fit_t2
from msklabel.labels import BONES, CARTILAGE_PLATES, MENISCI, KneeLabel
from msklabel.volume import Volume

#: T2 is fitted for these (the others' T2 is no sign of a wrong mask).
T2_STRUCTURES = (*CARTILAGE_PLATES, *MENISCI)
#: Fewest fitted voxels for a median T2.
MIN_T2_VOXELS = 10

#: Slices this far apart (mm) or more may cut a curved sheet into parts that touch in no
#: voxel (:func:`fragment_parts`).
THICK_SLICES_MM = 2.0

#: Scopes of limits: a structure key, or its group, or every structure.
GROUPS = {
    **{int(p): "cartilage" for p in CARTILAGE_PLATES},
    **{int(m): "meniscus" for m in MENISCI},
    **{int(b): "bone" for b in BONES},
}


class MaskFigures:
    """Shape figures of the structures of one label map (distance maps made once)."""

    def __init__(self, labels: Volume, near_bone_mm: float, between_bones_mm: float) -> None:
        self.array = np.asarray(labels.array)
        self.spacing = np.array(labels.spacing)
        #: Left-right (LPS x) position, mm, of a voxel centre per unit of each array index.
        self.lateral_step = np.asarray(labels.affine)[0, :3]
        self.near_bone_mm = near_bone_mm
        self.between_bones_mm = between_bones_mm
        counts = np.bincount(self.array.ravel().astype(np.int64), minlength=len(KneeLabel) + 1)
        self.counts = counts
        known = {int(label) for label in KneeLabel}
        self.present = {KneeLabel(v) for v in np.flatnonzero(counts) if int(v) in known}
        self._enclosed: dict[int, np.ndarray] = {}
        self._widths: dict[int, float] = {}

    def voxels(self, label: int) -> int:
        return int(self.counts[label]) if label < len(self.counts) else 0

    def shape_figures(self, label: KneeLabel) -> dict[str, float]:
        mask = self.array == label
        figures: dict[str, float] = {}
        group = GROUPS.get(int(label))
        if group in ("cartilage", "meniscus"):
            figures["rectangularity"] = rectangularity(mask)
            parts = fragment_parts(label, float(self.spacing[0]))
            figures["fragment_share"] = fragment_share(mask, parts)
            bones = [PLATE_BONES[label]] if group == "cartilage" else [*BONES]
            inside = np.zeros(mask.shape, bool)
            for bone in bones:
                inside |= self.enclosed(bone)
            figures["inside_bone_share"] = float(inside[mask].mean())
        if group == "cartilage" and PLATE_BONES[label] in self.present:
            near = self.within(mask, PLATE_BONES[label], self.near_bone_mm)
            figures["near_bone_share"] = float(near.mean())
        if group == "bone":
            figures["width_mm"] = self.width_mm(label)
        if label == KneeLabel.TIBIA and KneeLabel.FEMUR in self.present:
            femur = self.width_mm(KneeLabel.FEMUR)
            if femur > 0:  # a femur on one slice fails for its own width, not the tibia's
                figures["width_ratio"] = figures["width_mm"] / femur
        if group == "meniscus":
            reach = self.between_bones_mm
            femur = self.within(mask, KneeLabel.FEMUR, reach)
            tibia = self.within(mask, KneeLabel.TIBIA, reach)
            figures["between_bones_share"] = float((femur & tibia).mean())
        return figures

    def width_mm(self, label: int) -> float:
        """Distance (mm) between the outermost voxel centres of a present ``label`` along
        the patient's left-right axis: a bone's mediolateral width, less up to one slice
        spacing on a sagittal series (partial volume adds back up to a slice's thickness)."""
        if label not in self._widths:
            lateral = np.argwhere(self.array == label) @ self.lateral_step
            self._widths[label] = float(lateral.max() - lateral.min())
        return self._widths[label]

    def within(self, mask: np.ndarray, bone: int, distance_mm: float) -> np.ndarray:
        """For each voxel of ``mask`` (in ``np.argwhere`` order), whether a voxel of
        ``bone`` lies within ``distance_mm``."""
        margin = np.ceil(distance_mm / self.spacing).astype(int) + 1
        found = np.argwhere(mask)
        low = np.maximum(found.min(axis=0) - margin, 0)
        high = np.minimum(found.max(axis=0) + margin + 1, mask.shape)
        crop = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
        bone_mask = self.array[crop] == bone
        if not bone_mask.any():
            return np.zeros(len(found), bool)
        distance = ndimage.distance_transform_edt(~bone_mask, sampling=self.spacing)
        return distance[tuple((found - low).T)] <= distance_mm

    def enclosed(self, bone: int) -> np.ndarray:
        """Voxels inside ``bone``: in a hole of the bone mask in 3D, or surrounded by the
        bone's outline in the planes along at least two of the three array axes.

        One plane is not enough: the medial tibial plateau and the trochlea are dishes, and
        the plane across a dish below its rim (axial for the plateau, coronal for the trochlea)
        shows the cartilage lying in it ringed by bone. Only the planes along the dish's
        normal show it open, so a surface dish is enclosed in one axis plane at most, while a
        voxel within the bone is enclosed in all three."""
        if bone not in self._enclosed:
            mask = self.array == bone
            planes = np.zeros(mask.shape, np.uint8)
            cross = ndimage.generate_binary_structure(2, 1)
            for axis in range(3):
                footprint = np.expand_dims(cross, axis)
                planes += ndimage.binary_fill_holes(mask, structure=footprint) & ~mask
            solid = ndimage.binary_fill_holes(mask) & ~mask
            self._enclosed[bone] = solid | (planes >= 2)
        return self._enclosed[bone]


def rectangularity(mask: np.ndarray, min_pixels: int = 6) -> float:
    """Median over the slices along axis 0 (with at least ``min_pixels``) of the share of
    its axis-aligned bounding box that the slice's mask fills; 0 if no such slice."""
    shares = []
    for index in np.flatnonzero(mask.sum(axis=(1, 2)) >= min_pixels):
        rows, columns = np.nonzero(mask[index])
        box = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
        shares.append(len(rows) / box)
    return float(np.median(shares)) if shares else 0.0


def fragment_parts(label: KneeLabel, slice_spacing_mm: float) -> int:
    """How many connected parts of ``label`` a right mask may have, on slices
    ``slice_spacing_mm`` apart (along the first array axis): two for the femoral cartilage
    (its condyles); on slices :data:`THICK_SLICES_MM` apart or more, two for each meniscus
    (its horns, which join only in the one or two slices through its body) and for the
    patellar cartilage (its facets, on either side of the ridge); one otherwise."""
    if label == KneeLabel.FEMORAL_CARTILAGE:
        return 2
    thick = slice_spacing_mm >= THICK_SLICES_MM
    return 2 if thick and label in (*MENISCI, KneeLabel.PATELLAR_CARTILAGE) else 1


def fragment_share(mask: np.ndarray, parts: int = 1) -> float:
    """Share of ``mask``'s voxels outside its ``parts`` largest connected components
    (26-connected)."""
    components, count = ndimage.label(mask, structure=np.ones((3, 3, 3)))
    if count <= parts:
        return 0.0
    sizes = np.sort(np.bincount(components.ravel())[1:])[::-1]
    return float(sizes[parts:].sum() / sizes.sum())


@dataclass(frozen=True)
class T2Figures:
    """The fitted T2 of one structure's voxels: their median (ms) and the share of them
    fitted longer than :data:`~msklabel.biomarkers.t2.FLUID_T2_MS` (fluid)."""

    median_ms: float
    fluid_share: float


def t2_figures(labels: Volume, echoes: Sequence[Volume]) -> dict[KneeLabel, T2Figures]:
    """:class:`T2Figures` of each plate's and meniscus' voxels, fitted from ``echoes`` (by
    increasing echo time, as :func:`~msklabel.io.read_echoes` returns them) by
    :func:`~msklabel.biomarkers.t2.fit_t2`; left out where fewer than :data:`MIN_T2_VOXELS`
    voxels fit."""
    array = np.asarray(labels.array)
    mask = np.isin(array, [int(s) for s in T2_STRUCTURES])
    if not mask.any():
        return {}
    fitted = fit_t2(echoes, mask=mask)
    values = fitted.time.array
    found = {}
    for structure in T2_STRUCTURES:
        inside = values[(array == structure) & fitted.valid]
        if inside.size >= MIN_T2_VOXELS:
            found[structure] = T2Figures(
                float(np.median(inside)), float((inside > FLUID_T2_MS).mean())
            )
    return found


def bone_signal(labels: Volume, image: Volume) -> dict[KneeLabel, float]:
    """Each present bone's median signal in ``image`` (on the grid of ``labels``) as a share
    of the median of the image's tissue (its voxels above Otsu's threshold).

    Marrow is tissue: about 0.75-1.2 of that median on proton-density and T2-weighted spin
    echoes, about 0.35 where fat is suppressed; a "bone" drawn in the air around the knee
    lies near the noise floor (0.04 in the case that showed it, docs/quality.md)."""
    mismatch = labels.grid_mismatch(image)
    if mismatch is not None:
        raise ValueError(f"the image is not on the label map's grid: {mismatch}")
    array, values = np.asarray(labels.array), np.asarray(image.array, np.float32)
    present = [bone for bone in BONES if (array == bone).any()]
    if not present or float(values.max()) <= float(values.min()):
        return {}
    tissue = float(np.median(values[values > threshold_otsu(values)]))
    if tissue <= 0:
        return {}
    return {bone: float(np.median(values[array == bone])) / tissue for bone in present}
