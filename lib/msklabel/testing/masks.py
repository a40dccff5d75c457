"""Deliberately wrong label maps, for testing what judges masks (the quality gate)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def boxes_as_masks(array: np.ndarray, structures: Iterable[int]) -> np.ndarray:
    """A copy of ``array`` with each of ``structures`` replaced, slice by slice (first axis),
    by its bounding box: what a detector's box taken for the mask looks like. A later
    structure's box covers an earlier one's."""
    out = np.array(array, copy=True)
    for label in structures:
        for k in np.flatnonzero((array == label).any(axis=(1, 2))):
            rows, cols = np.nonzero(array[k] == label)
            out[k, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = label
    return out
