"""Lumbar intervertebral disc heights (mm) and volumes (mm^3), in physical space.

Axis of a disc: the unit vector joining the centroids (LPS mm) of the vertebral bodies above
and below it (:data:`msklabel.labels.DISC_VERTEBRAE`). In the plane perpendicular to the
axis through the disc's centroid, *anterior* is patient anterior projected on that plane and
*lateral* completes the frame.

Heights: rays parallel to the axis start from a square grid of that plane (one smallest
voxel size apart). Along each ray the height is the length over which the disc mask,
smoothed by half a voxel as for cartilage thickness (msklabel.biomarkers.thickness) and
interpolated linearly, is at least 0.5; the rays that meet the disc form its footprint.
Regions of the footprint, within the middle half of its lateral extent, as fractions of its
antero-posterior extent counted from the anterior edge (:data:`REGIONS`): anterior 0.05-0.25,
central 0.25-0.75, posterior 0.75-0.95 (the outer 5% are left out: rays grazing the rim are
short). Each region's height is the mean over its rays.
"""

from __future__ import annotations

import numpy as np

from msklabel.biomarkers.measurement import Measurement, Measurements
from msklabel.biomarkers.thickness import SMOOTHING_VOXELS, _crop, _sample, _smooth
from msklabel.biomarkers.volumes import label_volumes
from msklabel.labels import DISC_VERTEBRAE, SpineLabel
from msklabel.volume import Volume

#: Patient anterior in LPS.
ANTERIOR = np.array([0.0, -1.0, 0.0])
#: Region code -> (start, end) fraction of the footprint's antero-posterior extent.
REGIONS = {"anterior": (0.05, 0.25), "central": (0.25, 0.75), "posterior": (0.75, 0.95)}
#: Region code -> meaning, for the SR's finding sites.
REGION_NAMES = {
    "anterior": "Anterior disc height zone",
    "central": "Central disc height zone",
    "posterior": "Posterior disc height zone",
}
#: Half-width of the lateral band the regions are taken in, as a fraction of the
#: footprint's lateral extent.
LATERAL_HALF_BAND = 0.25
#: Samples along a ray per smallest voxel size.
SAMPLES_PER_VOXEL = 4


def measure_spine(labels: Volume) -> Measurements:
    """Volume of every labelled structure and, for each disc whose two vertebral bodies are
    labelled, its heights: mean height per region of :data:`REGIONS`."""
    measurements = Measurements()
    for value, volume in label_volumes(labels, SpineLabel).items():
        measurements.add(Measurement(SpineLabel(value).key, "volume", volume))
    present = set(np.unique(np.asarray(labels.array)).tolist())
    for disc, vertebrae in DISC_VERTEBRAE.items():
        if present.issuperset((disc, *vertebrae)):
            for region, height in disc_heights(labels, disc).items():
                measurements.add(Measurement(disc.key, "height", height, "mean", region))
    return measurements


def disc_heights(labels: Volume, disc: SpineLabel) -> dict[str, float]:
    """Mean height (mm) of ``disc`` in each region of :data:`REGIONS` that it covers."""
    array = np.asarray(labels.array)
    for value in (disc, *DISC_VERTEBRAE[disc]):
        if not np.any(array == value):
            raise ValueError(f"{SpineLabel(value).key} is absent")
    above, below = (
        labels.index_to_patient(np.argwhere(array == v).mean(axis=0)) for v in DISC_VERTEBRAE[disc]
    )
    axis = _unit(below - above)
    anterior = ANTERIOR - (ANTERIOR @ axis) * axis
    if np.linalg.norm(anterior) < 0.1:
        raise ValueError(f"the axis of disc {disc.key} runs antero-posteriorly")
    anterior = _unit(anterior)
    frame = np.stack([axis, anterior, np.cross(axis, anterior)])

    spacing = np.array(labels.spacing)
    mask = array == disc
    corner, crop = _crop(mask, np.full(3, 3))
    field = _smooth(mask[crop], SMOOTHING_VOXELS)
    points = labels.index_to_patient(np.argwhere(mask))
    centre = points.mean(axis=0)
    local = (points - centre) @ frame.T
    pad, grid, step = spacing.max(), spacing.min(), spacing.min() / SAMPLES_PER_VOXEL
    along, ap, side = (
        np.arange(local[:, i].min() - pad, local[:, i].max() + pad + s, s)
        for i, s in ((0, step), (1, grid), (2, grid))
    )
    feet = np.stack(np.meshgrid(ap, side, indexing="ij"), axis=-1).reshape(-1, 2)
    heights = np.empty(len(feet))
    chunk = max(1, 4_000_000 // len(along))
    for begin in range(0, len(feet), chunk):
        part = feet[begin : begin + chunk]
        path = centre + (part @ frame[1:])[:, None, :] + along[None, :, None] * axis
        values = _sample(field, labels.patient_to_index(path) - corner)
        heights[begin : begin + chunk] = _length_above_half(values, step)

    hit = heights > 0
    if not hit.any():
        raise ValueError(f"no ray meets disc {disc.key}")
    feet, heights = feet[hit], heights[hit]
    front, back = feet[:, 0].max(), feet[:, 0].min()
    depth = (front - feet[:, 0]) / max(front - back, grid)
    low, high = feet[:, 1].min(), feet[:, 1].max()
    middle = np.abs(feet[:, 1] - 0.5 * (low + high)) <= LATERAL_HALF_BAND * (high - low)
    found = {}
    for region, (start, end) in REGIONS.items():
        chosen = middle & (depth >= start) & (depth <= end)
        if chosen.any():
            found[region] = float(heights[chosen].mean())
    return found


def _length_above_half(values: np.ndarray, step: float) -> np.ndarray:
    """Length (mm) over which each row of ``values``, samples ``step`` mm apart joined
    linearly, is at least 0.5."""
    a, b = values[:, :-1], values[:, 1:]
    high, low = np.maximum(a, b), np.minimum(a, b)
    fraction = np.where(
        low >= 0.5, 1.0, np.clip((high - 0.5) / np.maximum(high - low, 1e-12), 0.0, 1.0)
    )
    return fraction.sum(axis=1) * step


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)
