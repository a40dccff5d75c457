"""The one grid check (``Volume.grid_mismatch``)."""

from __future__ import annotations

import numpy as np

from msklabel.volume import Volume


def _volume(shape=(4, 5, 6), spacing=(3.0, 0.5, 0.5), shift_mm=0.0) -> Volume:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = (10.0 + shift_mm, -20.0, 5.0)
    return Volume(np.zeros(shape, np.uint8), affine)


def test_a_grid_within_a_hundredth_of_the_smallest_voxel_is_the_same() -> None:
    reference = _volume()
    assert reference.grid_mismatch(_volume(shift_mm=0.004)) is None  # float32 NIfTI rounding
    assert reference.same_grid(_volume(shift_mm=0.004))


def test_a_moved_or_resized_grid_is_named() -> None:
    reference = _volume()
    moved = reference.grid_mismatch(_volume(shift_mm=0.05))
    assert moved is not None and "up to 0.05 mm (tolerance 0.005 mm)" in moved
    resized = reference.grid_mismatch(_volume(shape=(3, 5, 6)))
    assert resized == "shape (3, 5, 6) does not match (4, 5, 6) (slice, row, column)"
    assert not reference.same_grid(_volume(spacing=(3.0, 0.5, 0.51)))
