"""Anatomical rules that turn the network's per-slice classes into a knee label map.

- A bone the network is known to under-call (:data:`LIKELY_PROBABILITY`: the patella) also
  takes the voxels it left to the background where its mean probability reaches a lower
  threshold, in pieces joined to the voxels it called that bone (hysteresis).
- Each bone is one piece: its largest 3D connected component, with no holes on any slice
  (marrow darker than the network expects is still bone).
- A cartilage plate lies on the articular surface of its own bone: its voxels lie within
  :data:`PLATE_REACH_MM` of that bone (3D, in mm through the voxel spacing), in pieces that
  touch the bone (within :data:`TOUCH_MM`); a plate is never inside a bone (the labels are
  exclusive).
- A meniscus sits on the tibial plateau under the femur: its pieces lie within
  :data:`MENISCUS_REACH_MM` of both the tibia and the femur.
- Medial and lateral: the tibial plates and menisci are split across the knee at the
  intercondylar region (the position across the knee, within the middle of the tibia,
  where the fewest tibial cartilage voxels lie); which side is medial comes from the
  laterality given (the header's), else from the fibula (lateral), else a right knee is
  assumed, and :class:`Sides` says which. The fibula decides only when it is clear: at
  least :data:`FIBULA_CLEAR_SHARE` of the voxels the network calls fibula (every piece, not
  only the largest) lie on one side of the knee. Otherwise (on simulated knees the network
  also calls soft tissue behind the medial tibia fibula) the side is the one most of them lie
  on, and it is marked as assumed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from msklabel.io.acquisition import Laterality
from msklabel.kneeseg.classes import SIDED, UNSIDED, SegClass
from msklabel.volume import Volume

#: Where the side of a knee came from: ``given`` (by the caller), ``header`` (the series'
#: (Image) Laterality), ``fibula`` (it lies laterally) or ``assumed`` (none of these told it
#: clearly: a right knee, or the side most of the fibula's voxels lie on; medial and lateral
#: are swapped if the guess is wrong).
SideSource = Literal["given", "header", "fibula", "assumed"]


@dataclass(frozen=True)
class Sides:
    """Which knee a label map's medial and lateral labels were assigned for, and why."""

    laterality: Laterality
    source: SideSource

    @property
    def assumed(self) -> bool:
        return self.source == "assumed"


#: How far (mm) from its bone a plate's voxels may lie: the plate's thickness plus partial
#: volume. Normal plates are 1-4 mm thick, the patella's up to about 6 mm at its ridge.
PLATE_REACH_MM: Mapping[SegClass, float] = {
    SegClass.FEMORAL_CARTILAGE: 5.0,
    SegClass.TIBIAL_CARTILAGE: 5.0,
    SegClass.PATELLAR_CARTILAGE: 7.0,
}
#: The bone each plate covers.
PLATE_BONE: Mapping[SegClass, SegClass] = {
    SegClass.FEMORAL_CARTILAGE: SegClass.FEMUR,
    SegClass.TIBIAL_CARTILAGE: SegClass.TIBIA,
    SegClass.PATELLAR_CARTILAGE: SegClass.PATELLA,
}
#: Bones the network under-calls, and the mean probability at which a voxel it left to the
#: background joins the bone where it is connected to it. Measured with the shipped weights
#: (docs/kneeseg.md, "The patella: grown where the network is unsure"): on the held-out
#: simulation the patella's Dice rose by 0.08 on average on fresh seeds (+0.31 to -0.02 per
#: study), and the real sample's patella, missed on its outer slices, grew from 9.2 to 12.1
#: cm3 along its cortex. The femur, tibia, plates and menisci lost Dice the same way, so
#: they are left to the argmax.
LIKELY_PROBABILITY: Mapping[SegClass, float] = {SegClass.PATELLA: 0.2}
#: A piece of a plate touches its bone when it comes this close (mm) to it.
TOUCH_MM = 2.0
#: The share of the fibula's voxels one side must hold for the fibula to tell the side.
FIBULA_CLEAR_SHARE = 0.8
#: Fewer fibula voxels than this: no fibula found.
FIBULA_MIN_VOXELS = 20
#: A meniscus piece comes this close (mm) to both the tibia and the femur.
MENISCUS_REACH_MM = 6.0


def knee_labels(
    classes: np.ndarray,
    reference: Volume,
    laterality: Laterality | None = None,
    source: SideSource = "given",
    likely: Mapping[SegClass, np.ndarray] | None = None,
) -> tuple[np.ndarray, Sides]:
    """The :class:`KneeLabel` map (uint8) of ``classes`` (network classes on ``reference``'s
    grid) after the module's rules, and the :class:`Sides` it was labelled for:
    ``laterality`` (whose ``source`` the caller names), else the fibula's, else assumed.
    ``likely[bone]``: the voxels where the network's mean probability of ``bone`` reaches
    :data:`LIKELY_PROBABILITY` (none given: the argmax alone)."""
    spacing = reference.spacing
    classes = classes.copy()
    for bone, voxels in (likely or {}).items():
        classes[_joined(classes == bone, voxels & (classes == SegClass.BACKGROUND))] = bone
    fibula = classes == SegClass.FIBULA  # every piece votes for the side, not only the kept one
    for bone in (SegClass.FEMUR, SegClass.TIBIA, SegClass.PATELLA, SegClass.FIBULA):
        kept = _largest_component(classes == bone)
        classes[(classes == bone) & ~kept] = SegClass.BACKGROUND
        classes[_holes(kept)] = bone
    within = _within_reaches(classes, spacing)
    for plate, bone in PLATE_BONE.items():
        near = within[bone, PLATE_REACH_MM[plate]]
        keep = _touching(classes == plate, within[bone, TOUCH_MM]) & near
        classes[(classes == plate) & ~keep] = SegClass.BACKGROUND
    between = within[SegClass.TIBIA, MENISCUS_REACH_MM] & within[SegClass.FEMUR, MENISCUS_REACH_MM]
    meniscus = classes == SegClass.MENISCUS
    classes[meniscus & ~_touching(meniscus, between)] = SegClass.BACKGROUND

    labels = np.zeros(classes.shape, np.uint8)
    for seg_class, label in UNSIDED.items():
        labels[classes == seg_class] = label
    across = _across(reference)
    midline = _midline(classes, across)
    if laterality is not None:
        sides = Sides(laterality, source)
    else:
        sides = _sides_from_fibula(across[fibula], midline)
    medial = across > midline if sides.laterality == "right" else across < midline
    for seg_class, (medial_label, lateral_label) in SIDED.items():
        chosen = classes == seg_class
        labels[chosen & medial] = medial_label
        labels[chosen & ~medial] = lateral_label
    return labels, sides


def _largest_component(mask: np.ndarray) -> np.ndarray:
    components, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(np.argmax(sizes))


def _joined(core: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """The ``candidates`` voxels in 3D pieces of ``core | candidates`` that hold a voxel of
    ``core``."""
    return _touching(core | candidates, core) & candidates


def _holes(mask: np.ndarray) -> np.ndarray:
    """Pixels enclosed by ``mask`` on each slice (first axis) and not in it."""
    filled = np.stack([ndimage.binary_fill_holes(plane) for plane in mask])
    return filled & ~mask


def _within_reaches(
    classes: np.ndarray, spacing: tuple[float, float, float]
) -> dict[tuple[SegClass, float], np.ndarray]:
    """``{(bone, reach): voxels within reach mm of that bone}`` for every reach the rules
    test."""
    reaches: dict[SegClass, set[float]] = {bone: {TOUCH_MM} for bone in PLATE_BONE.values()}
    for plate, bone in PLATE_BONE.items():
        reaches[bone].add(PLATE_REACH_MM[plate])
    for bone in (SegClass.FEMUR, SegClass.TIBIA):
        reaches[bone].add(MENISCUS_REACH_MM)
    within = {}
    for bone, limits in reaches.items():
        near = _within(classes == bone, spacing, limits)
        within.update({(bone, limit): mask for limit, mask in near.items()})
    return within


def _within(
    mask: np.ndarray, spacing: tuple[float, float, float], limits: set[float]
) -> dict[float, np.ndarray]:
    """For each of ``limits``: the voxels whose centres lie within that many mm of ``mask``.
    Exact; the distance map is computed only in ``mask``'s bounding box grown by the largest
    limit (every voxel outside it is farther), which bounds its memory."""
    near = {limit: np.zeros(mask.shape, bool) for limit in limits}
    if not mask.any():
        return near
    box = []
    for axis, step in enumerate(spacing):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        found = np.flatnonzero(mask.any(axis=others))
        grow = math.ceil(max(limits) / step)
        box.append(slice(max(int(found[0]) - grow, 0), int(found[-1]) + grow + 1))
    region = tuple(box)
    distance = ndimage.distance_transform_edt(~mask[region], sampling=spacing)
    for limit, inside in near.items():
        inside[region] = distance <= limit
    return near


def _touching(mask: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The connected pieces of ``mask`` that have a voxel in ``region``."""
    components, count = ndimage.label(mask)
    if count == 0:
        return mask
    hit = np.zeros(count + 1, bool)
    hit[np.unique(components[mask & region])] = True
    hit[0] = False
    return hit[components]


def _across(reference: Volume) -> np.ndarray:
    """Patient x (LPS mm, towards patient left) of every voxel centre."""
    slices, rows, columns = (np.arange(n, dtype=np.float64) for n in reference.shape)
    x = reference.affine[0]
    across = x[0] * slices[:, None, None] + x[1] * rows[None, :, None] + x[2] * columns
    across += x[3]
    return across


def _midline(classes: np.ndarray, across: np.ndarray) -> float:
    """The position across the knee between the medial and lateral compartments: within the
    middle half of the tibia's extent, the 2 mm band holding the fewest tibial cartilage
    voxels (nearest the tibia's median on ties); the tibia's (else femur's, else the
    volume's) median without tibial cartilage."""
    for bone in (SegClass.TIBIA, SegClass.FEMUR):
        if (classes == bone).any():
            positions = across[classes == bone]
            break
    else:
        return float(np.median(across))
    median = float(np.median(positions))
    cartilage = across[classes == SegClass.TIBIAL_CARTILAGE]
    if cartilage.size == 0:
        return median
    low, high = np.percentile(positions, [25, 75])
    bands = np.arange(low, high + 2.0, 2.0)
    if bands.size < 2:
        return median
    counts, _ = np.histogram(cartilage, bins=bands)
    centres = (bands[:-1] + bands[1:]) / 2
    order = np.lexsort((np.abs(centres - median), counts))
    return float(centres[order[0]])


def _sides_from_fibula(positions: np.ndarray, midline: float) -> Sides:
    """The knee whose lateral side holds the fibula voxels at ``positions`` (across the
    knee); assumed (right, or where most of them lie) unless they are clear."""
    if positions.size < FIBULA_MIN_VOXELS:
        return Sides("right", "assumed")
    # The fibula is lateral: on a right knee it lies towards patient right (-x).
    right_share = float(np.mean(positions < midline))
    knee: Laterality = "right" if right_share >= 0.5 else "left"
    clear = max(right_share, 1.0 - right_share) >= FIBULA_CLEAR_SHARE
    return Sides(knee, "fibula" if clear else "assumed")
