"""Simulated prompts from a reference mask: oracle boxes and corrective clicks."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from msklabel.segment.prompts import Box, Point


def oracle_boxes(reference: np.ndarray) -> tuple[Box, ...]:
    """The box around the reference on every slice where it is set."""
    return tuple(Box.around(reference[k], k) for k in np.flatnonzero(reference.any(axis=(1, 2))))  # type: ignore[misc]


def next_click(predicted: np.ndarray, reference: np.ndarray, index: int) -> Point | None:
    """A click at the centre (farthest from its border) of the largest error region on
    slice ``index``: positive where the reference is missed, negative where it is exceeded;
    None if the slice has no error."""
    error = predicted[index] != reference[index]
    regions, count = ndimage.label(error)
    if count == 0:
        return None
    sizes = ndimage.sum_labels(error, regions, range(1, count + 1))
    largest = regions == 1 + int(np.argmax(sizes))
    depth = ndimage.distance_transform_edt(np.pad(largest, 1))[1:-1, 1:-1]
    row, column = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return Point(index, float(row), float(column), bool(reference[index][row, column]))
