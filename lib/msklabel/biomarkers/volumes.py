"""Volumes of labelled structures in mm^3, from voxel counts and the affine's voxel volume."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from msklabel.volume import Volume


def label_volumes(labels: Volume, values: Iterable[int]) -> dict[int, float]:
    """Volume (mm^3) of each label in ``values``; absent labels are left out.

    The volume is the number of voxels times the volume of one voxel (the absolute
    determinant of the affine), so it holds for any orientation and voxel shape.
    """
    counts = np.bincount(np.asarray(labels.array, dtype=np.int64).ravel())
    found = {}
    for value in values:
        count = int(counts[value]) if 0 <= value < len(counts) else 0
        if count:
            found[int(value)] = count * labels.voxel_volume
    return found
