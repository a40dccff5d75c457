"""Sagittal slices in one display orientation, resampled onto the detector's square grid.

The detector sees every slice as a radiologist shows a sagittal knee: rows run from superior
to inferior, columns from anterior to posterior. :class:`SagittalView` turns a volume's slices
into that orientation and maps boxes found there back to the volume's own voxel indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from msklabel.volume import Volume

#: Side of the detector's square input, pixels.
INPUT_SIZE = 128


class NotSagittalError(ValueError):
    """The volume's slices are not sagittal."""


def reorient_sagittal(volume: Volume, check: bool = True) -> Volume:
    """``volume`` with its axes permuted so that slices are sagittal (index 0 along left-right).

    Raises :class:`NotSagittalError` when ``check`` and the volume's own slice axis is not the
    one closest to left-right (detection runs on the acquired slices).
    """
    directions = np.abs(volume.affine[:3, :3] / np.linalg.norm(volume.affine[:3, :3], axis=0))
    lateral = int(np.argmax(directions[0]))
    if lateral == 0:
        return volume
    if check:
        raise NotSagittalError("the slices are not sagittal (automatic detection needs sagittal)")
    order = [lateral, *(axis for axis in range(3) if axis != lateral)]
    return Volume(np.transpose(volume.array, order), volume.affine[:, [*order, 3]])


@dataclass(frozen=True)
class SagittalView:
    """The in-plane flips and transposition that bring a sagittal volume to display order."""

    transpose: bool
    flip_rows: bool
    flip_columns: bool
    shape: tuple[int, int]  # the volume's own (rows, columns)
    spacing: tuple[float, float]  # the volume's own (row, column) spacing, mm

    @classmethod
    def of(cls, volume: Volume) -> SagittalView:
        """The view of a volume whose slices are sagittal."""
        row, column = volume.affine[:3, 1], volume.affine[:3, 2]
        transpose = abs(column[2]) > abs(row[2])  # columns run along superior-inferior
        vertical, horizontal = (column, row) if transpose else (row, column)
        return cls(
            transpose=transpose,
            flip_rows=bool(vertical[2] > 0),  # LPS z points superior: rows must go inferior
            flip_columns=bool(horizontal[1] < 0),  # LPS y points posterior
            shape=volume.shape[1:],
            spacing=volume.spacing[1:],
        )

    def apply(self, slices: np.ndarray) -> np.ndarray:
        """``[n, rows, columns]`` slices of the volume in display orientation."""
        out = np.swapaxes(slices, 1, 2) if self.transpose else slices
        if self.flip_rows:
            out = out[:, ::-1]
        if self.flip_columns:
            out = out[:, :, ::-1]
        return np.ascontiguousarray(out)

    @property
    def display_shape(self) -> tuple[int, int]:
        return self.shape[::-1] if self.transpose else self.shape

    @property
    def display_spacing(self) -> tuple[float, float]:
        return self.spacing[::-1] if self.transpose else self.spacing

    def to_input(self, slices: np.ndarray) -> torch.Tensor:
        """Slices resampled onto the detector's grid, ``[n, 1, INPUT_SIZE, INPUT_SIZE]``."""
        images = torch.from_numpy(self.apply(slices).astype(np.float32))[:, None]
        return resample(images, self.display_spacing, self.field_of_view, mode="bilinear")

    @property
    def field_of_view(self) -> float:
        """Side of the square the detector sees, mm: the slice's larger extent."""
        (rows, columns), (dr, dc) = self.display_shape, self.display_spacing
        return max(rows * dr, columns * dc)

    def boxes_to_volume(self, boxes: np.ndarray) -> np.ndarray:
        """Map ``[..., 4]`` input-grid boxes (x0, y0, x1, y1; pixel edges) to the volume's
        inclusive ``(row_min, column_min, row_max, column_max)`` indices, clipped to the slice."""
        (rows, columns), (dr, dc) = self.display_shape, self.display_spacing
        scale = self.field_of_view / INPUT_SIZE
        x0, y0, x1, y1 = np.moveaxis(np.asarray(boxes, float), -1, 0)
        # Input edge u -> mm from the slice centre -> display pixel edge.
        c0 = (x0 - INPUT_SIZE / 2) * scale / dc + columns / 2
        c1 = (x1 - INPUT_SIZE / 2) * scale / dc + columns / 2
        r0 = (y0 - INPUT_SIZE / 2) * scale / dr + rows / 2
        r1 = (y1 - INPUT_SIZE / 2) * scale / dr + rows / 2
        r_min, r_max = np.clip(r0, 0, rows - 1), np.clip(r1 - 1, 0, rows - 1)
        c_min, c_max = np.clip(c0, 0, columns - 1), np.clip(c1 - 1, 0, columns - 1)
        r_max, c_max = np.maximum(r_max, r_min), np.maximum(c_max, c_min)
        if self.flip_rows:
            r_min, r_max = rows - 1 - r_max, rows - 1 - r_min
        if self.flip_columns:
            c_min, c_max = columns - 1 - c_max, columns - 1 - c_min
        if self.transpose:
            r_min, c_min, r_max, c_max = c_min, r_min, c_max, r_max
        return np.stack([r_min, c_min, r_max, c_max], axis=-1)


def with_neighbours(images: torch.Tensor, context: int) -> torch.Tensor:
    """``[n, 1, H, W]`` slices of a volume as ``[n, 2 * context + 1, H, W]``: each slice
    between its ``context`` neighbours either side (the first or last slice repeated past the
    volume's ends)."""
    count = images.shape[0]
    offsets = torch.arange(-context, context + 1)
    index = (torch.arange(count)[:, None] + offsets[None]).clamp(0, count - 1)
    return images[index, 0]


def resample(
    images: torch.Tensor,
    spacing: tuple[float, float],
    field_of_view: float,
    mode: str = "bilinear",
    size: int = INPUT_SIZE,
    theta: torch.Tensor | None = None,
    padding: str = "zeros",
) -> torch.Tensor:
    """Resample ``[n, c, rows, columns]`` images of pixel ``spacing`` (mm) onto a ``size``
    square grid covering ``field_of_view`` mm around the slice centre (outside the images:
    zeros, or with ``padding="border"`` their edge pixels continued).

    ``theta`` (``[n, 2, 3]``, optional) further maps the output's normalised coordinates before
    scaling: the random zoom, shift and rotation of training.
    """
    n, _, rows, columns = images.shape
    scale = torch.tensor(
        [field_of_view / (columns * spacing[1]), field_of_view / (rows * spacing[0])],
        dtype=images.dtype,
    )
    if theta is None:
        theta = torch.eye(2, 3, dtype=images.dtype).expand(n, 2, 3)
    theta = theta * torch.cat([scale, scale])[[0, 0, 0, 1, 1, 1]].reshape(1, 2, 3)
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode=padding, align_corners=False)
