"""Regional subdivisions of the knee cartilage plates (Chondrometrics / DOSMA conventions).

Directions come from patient coordinates (LPS) and the labels, never from array axes:

* **medial** points from the lateral to the medial tibial cartilage centroid (so the side
  of the knee needs no header); **anterior** is patient anterior (-y) made orthogonal to it;
  **superior** completes the frame, pointing to patient superior.
* **Femur** (femoral cartilage, 6 regions): medial / lateral of the plane, normal to the
  medial direction, halfway between the two tibial plate centroids (the notch). Each side
  is split by the angle of a point about its condyle centre (a least-squares sphere fitted
  to that side's bone-cartilage interface), measured in the sagittal plane from the inferior
  direction, positive towards anterior: **trochlea** (Tr) above ``FEMUR_ANTERIOR_DEG``,
  **central**, weight-bearing (c), from ``-FEMUR_POSTERIOR_DEG`` to ``FEMUR_ANTERIOR_DEG``,
  **posterior** (p) below ``-FEMUR_POSTERIOR_DEG``.
* **Tibia** (each tibial plate, 3 regions): the plate's interface points projected on the
  anterior direction are split into equal thirds of their extent: anterior (a), central (c),
  posterior (p).
* The patellar cartilage is not subdivided.

Region codes follow Chondrometrics' naming: ``cMF`` central medial femur, ``TrLF``
trochlear lateral femur, ``pMT`` posterior medial tibia...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from msklabel.biomarkers.thickness import PlateThickness
from msklabel.labels import KneeLabel
from msklabel.volume import Volume

#: Boundary between the central and trochlear femur, degrees anterior of inferior.
FEMUR_ANTERIOR_DEG = 30.0
#: Boundary between the central and posterior femur, degrees posterior of inferior.
FEMUR_POSTERIOR_DEG = 50.0

_BANDS = {"Tr": "trochlear", "a": "anterior", "c": "central", "p": "posterior"}
_SIDES = {"M": "medial", "L": "lateral"}
#: Region code -> meaning, for every region this module defines.
REGION_NAMES: dict[str, str] = {
    **{
        f"{band}{side}F": f"{_BANDS[band]} {_SIDES[side]} femoral cartilage"
        for band in ("Tr", "c", "p")
        for side in _SIDES
    },
    **{
        f"{band}{side}T": f"{_BANDS[band]} {_SIDES[side]} tibial cartilage"
        for band in ("a", "c", "p")
        for side in _SIDES
    },
}


@dataclass(frozen=True)
class KneeFrame:
    """Anatomical directions (unit vectors, LPS) and landmarks (LPS mm) of one knee."""

    medial: np.ndarray
    anterior: np.ndarray
    superior: np.ndarray
    notch: np.ndarray  #: a point of the plane separating medial and lateral femur


def knee_frame(labels: Volume) -> KneeFrame:
    """The frame of the knee in ``labels``, from its two tibial cartilage plates."""
    centroids = {}
    for label in (KneeLabel.MEDIAL_TIBIAL_CARTILAGE, KneeLabel.LATERAL_TIBIAL_CARTILAGE):
        voxels = np.argwhere(np.asarray(labels.array) == label)
        if len(voxels) == 0:
            raise ValueError(f"{label.key} is absent: the knee's medial side is unknown")
        centroids[label] = labels.index_to_patient(voxels.mean(axis=0))
    medial = (
        centroids[KneeLabel.MEDIAL_TIBIAL_CARTILAGE] - centroids[KneeLabel.LATERAL_TIBIAL_CARTILAGE]
    )
    medial /= np.linalg.norm(medial)
    anterior = np.array([0.0, -1.0, 0.0]) - medial * -medial[1]
    anterior /= np.linalg.norm(anterior)
    superior = np.cross(medial, anterior)
    if superior[2] < 0:
        superior = -superior
    notch = 0.5 * sum(centroids.values())
    return KneeFrame(medial=medial, anterior=anterior, superior=superior, notch=notch)


def fit_sphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere (centre, radius) through ``(N, 3)`` points."""
    design = np.column_stack([2 * points, np.ones(len(points))])
    target = (points**2).sum(axis=1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    center = solution[:3]
    return center, float(np.sqrt(solution[3] + center @ center))


def femoral_regions(
    points: np.ndarray, frame: KneeFrame, centers: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """Region code of each femoral interface point (``(N, 3)`` LPS mm).

    ``centers`` are the condyle centres by side ("M", "L"); by default spheres fitted to
    ``points`` on each side.
    """
    side = np.where((points - frame.notch) @ frame.medial > 0, "M", "L")
    if centers is None:
        centers = {s: fit_sphere(points[side == s])[0] for s in _SIDES if np.sum(side == s) >= 4}
    codes = np.empty(len(points), dtype=object)
    for s, center in centers.items():
        chosen = side == s
        offset = points[chosen] - center
        angle = np.degrees(np.arctan2(offset @ frame.anterior, -(offset @ frame.superior)))
        band = np.where(
            angle > FEMUR_ANTERIOR_DEG, "Tr", np.where(angle < -FEMUR_POSTERIOR_DEG, "p", "c")
        )
        codes[chosen] = np.char.add(band.astype(str), f"{s}F")
    return codes


def tibial_regions(points: np.ndarray, side: str, frame: KneeFrame) -> np.ndarray:
    """Region code of each point of one tibial plate (``side``: "M" or "L")."""
    along = points @ frame.anterior
    low, high = along.min(), along.max()
    third = (high - low) / 3.0
    band = np.where(along > low + 2 * third, "a", np.where(along < low + third, "p", "c"))
    return np.char.add(band.astype(str), f"{side}T").astype(object)


def plate_regions(plate: int, points: np.ndarray, frame: KneeFrame) -> np.ndarray | None:
    """Region codes of the interface points of ``plate``; None for an undivided plate."""
    if plate == KneeLabel.FEMORAL_CARTILAGE:
        return femoral_regions(points, frame)
    if plate == KneeLabel.MEDIAL_TIBIAL_CARTILAGE:
        return tibial_regions(points, "M", frame)
    if plate == KneeLabel.LATERAL_TIBIAL_CARTILAGE:
        return tibial_regions(points, "L", frame)
    return None


def voxel_regions(
    labels: Volume, plate: int, measured: PlateThickness, point_codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The plate's voxels (``(N, 3)`` indices) and the region of each: its nearest point's."""
    voxels = np.argwhere(np.asarray(labels.array) == plate)
    _, nearest = cKDTree(measured.points).query(labels.index_to_patient(voxels))
    return voxels, point_codes[nearest]
