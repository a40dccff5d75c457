"""The in-memory image volume shared by every part of msklabel."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

#: Flips DICOM patient coordinates (LPS) to NIfTI world coordinates (RAS) and back.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Two volumes share a grid when no voxel centre moves by more than this fraction of the
#: smallest voxel size (NIfTI stores the affine in single precision).
GRID_TOLERANCE = 0.01


@dataclass(frozen=True)
class Volume:
    """A 3D image (or label map) with its exact geometry.

    ``array`` is indexed ``[slice, row, column]`` so that ``array[k]`` is the
    k-th image as a viewer shows it. ``affine`` maps an index in that same
    order, ``(slice, row, column, 1)``, to DICOM patient coordinates (LPS, mm).
    Slices are ordered by position along the slice normal, never by Instance
    Number.
    """

    array: np.ndarray
    affine: np.ndarray
    echo_time: float | None = None
    slice_thickness: float | None = None
    series_instance_uid: str | None = None
    study_instance_uid: str | None = None
    frame_of_reference_uid: str | None = None
    sop_instance_uids: tuple[str, ...] = ()
    sop_class_uid: str | None = None
    modality: str | None = None
    series_description: str | None = None
    #: MRAcquisitionType: "2D" (slices excited one by one, each with a slice profile),
    #: "3D", or None where unknown.
    acquisition_type: str | None = None
    source_files: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume needs a 3D array, got shape {self.array.shape}")
        affine = np.asarray(self.affine, dtype=np.float64)
        if affine.shape != (4, 4):
            raise ValueError(f"a Volume needs a 4x4 affine, got shape {affine.shape}")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ValueError("the affine is singular")
        object.__setattr__(self, "affine", affine)
        if self.acquisition_type not in (None, "2D", "3D"):
            raise ValueError(
                f"acquisition_type must be '2D', '3D' or None, got {self.acquisition_type!r}"
            )
        if self.sop_instance_uids and len(self.sop_instance_uids) != self.array.shape[0]:
            raise ValueError(
                f"{len(self.sop_instance_uids)} SOP Instance UIDs for {self.array.shape[0]} slices"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along (slice, row, column)."""
        return tuple(float(s) for s in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel in mm^3."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def affine_ras(self) -> np.ndarray:
        """Affine mapping ``(column, row, slice, 1)`` to RAS mm, as NIfTI stores it."""
        return LPS_TO_RAS @ self.affine[:, [2, 1, 0, 3]]

    def index_to_patient(self, index: np.ndarray) -> np.ndarray:
        """Map ``(..., 3)`` indices in (slice, row, column) order to LPS mm."""
        index = np.asarray(index, dtype=np.float64)
        return index @ self.affine[:3, :3].T + self.affine[:3, 3]

    def patient_to_index(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 3)`` LPS points in mm to fractional (slice, row, column) indices."""
        points = np.asarray(points, dtype=np.float64)
        inverse = np.linalg.inv(self.affine)
        return points @ inverse[:3, :3].T + inverse[:3, 3]

    def grid_mismatch(self, other: Volume) -> str | None:
        """Why ``other`` does not lie on this volume's voxel grid, or None where it does: the
        shapes must match and no corner voxel centre may move by more than
        :data:`GRID_TOLERANCE` of the smallest voxel size. The one grid check of msklabel."""
        if other.shape != self.shape:
            return f"shape {other.shape} does not match {self.shape} (slice, row, column)"
        corners = np.array(np.meshgrid(*[(0, n - 1) for n in self.shape])).reshape(3, -1).T
        moved = np.linalg.norm(
            other.index_to_patient(corners) - self.index_to_patient(corners), axis=1
        ).max()
        tolerance = GRID_TOLERANCE * min(self.spacing)
        if moved > tolerance:
            return (
                f"affine does not match: voxel centres differ by up to {moved:.3g} mm "
                f"(tolerance {tolerance:.3g} mm)"
            )
        return None

    def same_grid(self, other: Volume) -> bool:
        """Whether ``other`` lies on this volume's voxel grid (:meth:`grid_mismatch`)."""
        return self.grid_mismatch(other) is None

    def with_array(self, array: np.ndarray) -> Volume:
        """The same geometry and references holding another array (e.g. a label map)."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} does not match the volume's {self.array.shape}")
        return replace(self, array=array)
