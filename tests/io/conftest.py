"""Synthetic volumes and DICOM files for the reader tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from msklabel.io.dicom_write import SeriesInfo, write_mr_series
from msklabel.volume import Volume

#: Identifying values written in every test file; they must never reach a log or an error.
PATIENT_NAME = "DOE^JANE"
PATIENT_ID = "MRN12345"


def _rotation(axis: int, degrees: float) -> np.ndarray:
    """Rotation matrix about the x (0), y (1) or z (2) axis."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [a for a in range(3) if a != axis]
    rotation = np.eye(3)
    rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
    return rotation


#: (direction of increasing column index, direction of increasing row index) in LPS.
ORIENTATIONS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "axial": (np.array([1.0, 0, 0]), np.array([0, 1.0, 0])),
    "sagittal": (np.array([0, 1.0, 0]), np.array([0, 0, -1.0])),
    "oblique": (
        _rotation(0, 20) @ _rotation(1, 35) @ np.array([1.0, 0, 0]),
        _rotation(0, 20) @ _rotation(1, 35) @ np.array([0, 1.0, 0]),
    ),
}


def make_volume(
    orientation: str = "axial",
    *,
    shape: tuple[int, int, int] = (6, 7, 5),
    spacing: tuple[float, float, float] = (2.5, 0.6, 0.45),
    origin: Sequence[float] = (-12.5, 30.25, 7.75),
    echo_time: float = 10.0,
    reverse: bool = False,
    seed: int = 0,
) -> Volume:
    """A random uint16 volume; slices step along the DICOM normal (against it if ``reverse``)."""
    along_row, along_column = ORIENTATIONS[orientation]
    normal = np.cross(along_row, along_column) * (-1 if reverse else 1)
    affine = np.eye(4)
    affine[:3, :3] = np.column_stack([normal, along_column, along_row]) * spacing
    affine[:3, 3] = origin
    array = np.random.default_rng(seed).integers(0, 4096, size=shape, dtype=np.uint16)
    return Volume(array=array, affine=affine, echo_time=echo_time)


def scramble(paths: Sequence[Path], seed: int = 1) -> list[Path]:
    """Shuffle Instance Numbers and rename the files (some into a subfolder) at random.

    Returns the new paths in the original (position) order.
    """
    rng = np.random.default_rng(seed)
    numbers = rng.permutation(len(paths)) + 1
    new_paths = []
    for path, number in zip(paths, numbers, strict=True):
        dataset = pydicom.dcmread(path)
        dataset.InstanceNumber = int(number)
        folder = path.parent / "sub" if number % 2 else path.parent
        folder.mkdir(exist_ok=True)
        new_path = folder / f"{rng.integers(1 << 40):x}"
        dataset.save_as(new_path, enforce_file_format=True)
        path.unlink()
        new_paths.append(new_path)
    return new_paths


def edit(path: Path, **attributes: object) -> None:
    """Set (or, with None, delete) attributes of a DICOM file in place."""
    dataset = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    dataset.save_as(path, enforce_file_format=True)


def write_non_image(path: Path, sop_class_uid: str) -> Path:
    """A minimal DICOM object of the given (non-image) SOP class, with pixel data for SEG."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = sop_class_uid
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.SeriesInstanceUID = generate_uid()
    dataset.PatientName = PATIENT_NAME
    dataset.PatientID = PATIENT_ID
    if sop_class_uid.endswith(".66.4"):  # Segmentation Storage carries pixels
        dataset.Rows = dataset.Columns = 2
        dataset.BitsAllocated = 8
        dataset.PixelData = bytes(4)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(path, enforce_file_format=True)
    return path


class DicomFactory:
    """The helpers above, with series written under one temporary folder."""

    make_volume = staticmethod(make_volume)
    scramble = staticmethod(scramble)
    edit = staticmethod(edit)

    def __init__(self, root: Path) -> None:
        self.root = root

    def series(
        self,
        volumes: Sequence[Volume] | None = None,
        *,
        folder: str = "series",
        series_number: int = 1,
        description: str = "t2",
    ) -> list[Path]:
        """Write one MR series (default: a :func:`make_volume`); paths in Instance Number order."""
        info = SeriesInfo(
            patient_name=PATIENT_NAME,
            patient_id=PATIENT_ID,
            series_number=series_number,
            series_description=description,
        )
        return write_mr_series(volumes or [make_volume()], self.root / folder, info=info)

    def non_image(self, name: str, sop_class_uid: str) -> Path:
        return write_non_image(self.root / name, sop_class_uid)


@pytest.fixture
def dicom(tmp_path: Path) -> DicomFactory:
    return DicomFactory(tmp_path)
