"""Segmentation metrics of a predicted mask against a reference, in mm using voxel spacing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from msklabel.segment.overlap import dice

__all__ = ["dice", "hd95", "iou", "slice_counts", "surface_dice", "volume_difference"]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean arrays (1 when both are empty)."""
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0


def volume_difference(predicted: np.ndarray, reference: np.ndarray, voxel_mm3: float) -> float:
    """Predicted minus reference volume in mm^3."""
    return (int(predicted.sum()) - int(reference.sum())) * voxel_mm3


def slice_counts(predicted: np.ndarray, reference: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Per slice (first axis) where either mask has a voxel: the slice index and the voxel
    counts of the reference, the prediction and their overlap."""
    axes = tuple(range(1, reference.ndim))
    counts = np.stack([
        reference.sum(axis=axes), predicted.sum(axis=axes), (predicted & reference).sum(axis=axes)
    ])  # fmt: skip
    return [(int(k), *map(int, counts[:, k])) for k in np.flatnonzero(counts[:2].any(axis=0))]


def _surface_distances(
    a: np.ndarray, b: np.ndarray, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from the surface voxels of ``a`` to the surface of ``b``, and back."""
    border_a = a & ~ndimage.binary_erosion(a)
    border_b = b & ~ndimage.binary_erosion(b)
    to_b = ndimage.distance_transform_edt(~border_b, sampling=spacing)
    to_a = ndimage.distance_transform_edt(~border_a, sampling=spacing)
    return to_b[border_a], to_a[border_b]


def hd95(a: np.ndarray, b: np.ndarray, spacing: Sequence[float]) -> float:
    """95th percentile of the symmetric surface distances in mm (NaN if a mask is empty)."""
    if not a.any() or not b.any():
        return float("nan")
    ab, ba = _surface_distances(a, b, spacing)
    return float(max(np.percentile(ab, 95), np.percentile(ba, 95)))


def surface_dice(a: np.ndarray, b: np.ndarray, spacing: Sequence[float], tolerance: float) -> float:
    """Normalised surface Dice: share of both surfaces within ``tolerance`` mm of the other."""
    if not a.any() and not b.any():
        return 1.0
    if not a.any() or not b.any():
        return 0.0
    ab, ba = _surface_distances(a, b, spacing)
    return float(((ab <= tolerance).sum() + (ba <= tolerance).sum()) / (ab.size + ba.size))
