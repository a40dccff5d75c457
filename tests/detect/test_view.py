"""Slices to the detector's display orientation and boxes back to voxel indices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from msklabel.detect.view import (
    INPUT_SIZE,
    NotSagittalError,
    SagittalView,
    reorient_sagittal,
    with_neighbours,
)
from msklabel.volume import Volume

# Display axes in LPS: slices along x, rows towards inferior, columns towards posterior.
DISPLAY = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]).T


def _volume(transpose: bool, flip_rows: bool, flip_columns: bool) -> tuple[Volume, tuple]:
    """A sagittal volume stored in some in-plane order, with one bright rectangle."""
    rows, columns, spacing = 120, 90, (3.0, 0.7, 0.9)
    display = np.zeros((4, rows, columns), np.float32)
    display[:, 30:61, 10:41] = 1.0  # rows 30-60, columns 10-40 in display order
    array, axes = display, DISPLAY.copy()
    if flip_rows:
        array, axes[:, 1] = array[:, ::-1], -axes[:, 1]
    if flip_columns:
        array, axes[:, 2] = array[:, :, ::-1], -axes[:, 2]
    if transpose:
        array, axes = np.swapaxes(array, 1, 2), axes[:, [0, 2, 1]]
    stored_spacing = (spacing[0], spacing[2], spacing[1]) if transpose else spacing
    affine = np.eye(4)
    affine[:3, :3] = axes * np.asarray(stored_spacing)
    box = Volume(np.ascontiguousarray(array), affine)
    return box, np.argwhere(box.array[0] > 0)


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=3)))
def test_boxes_on_the_input_grid_map_back_to_the_voxels_of_any_stored_orientation(flags) -> None:
    volume, inside = _volume(*flags)
    view = SagittalView.of(volume)
    assert (view.transpose, view.flip_rows, view.flip_columns) == flags
    image = view.to_input(volume.array)[0, 0].numpy()
    assert image.shape == (INPUT_SIZE, INPUT_SIZE)
    rows, columns = np.nonzero(image > 0.5)
    grid_box = [columns.min(), rows.min(), columns.max() + 1, rows.max() + 1]
    r0, c0, r1, c1 = view.boxes_to_volume(np.array(grid_box, float))
    (true_r0, true_c0), (true_r1, true_c1) = inside.min(0), inside.max(0)
    # One input pixel is 1.2 mm here: up to two stored pixels either way.
    np.testing.assert_allclose([r0, c0, r1, c1], [true_r0, true_c0, true_r1, true_c1], atol=2.0)


def test_axial_slices_are_refused_and_resliced_only_for_training() -> None:
    affine = np.diag([2.0, 0.8, 0.8, 1.0])[[2, 1, 0, 3]]  # slice axis along z
    affine[3] = [0, 0, 0, 1]
    axial = Volume(np.zeros((10, 20, 30), np.uint8), affine)
    with pytest.raises(NotSagittalError):
        reorient_sagittal(axial)
    resliced = reorient_sagittal(axial, check=False)
    assert resliced.shape == (30, 10, 20)
    assert np.argmax(np.abs(resliced.affine[:3, 0])) == 0


def test_each_slice_comes_between_its_neighbours_and_the_ends_repeat() -> None:
    slices = torch.arange(4.0)[:, None, None, None].expand(4, 1, 2, 2)
    stacked = with_neighbours(slices, 1)
    assert stacked.shape == (4, 3, 2, 2)
    assert stacked[:, :, 0, 0].tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]
    assert torch.equal(with_neighbours(slices, 0), slices)
