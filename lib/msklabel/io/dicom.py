"""Read DICOM image series into :class:`~msklabel.volume.Volume` objects with exact geometry.

Instances are grouped by (Series Instance UID, Echo Time): one Volume per group. Slices are
ordered by their position along the slice normal, never by Instance Number, and the affine
is built from Image Position/Orientation (Patient) and Pixel Spacing.

Input policy:

* A folder is searched recursively. Hidden files and folders (names starting with ``.``) and
  files named ``DICOMDIR`` are ignored. Readable DICOM objects that are not images (SR, SEG,
  Presentation State, Key Object Selection...) are skipped with a logged warning, since PACS
  exports often put them beside the images.
* A file given explicitly must be an image: a non-image object is an :class:`InputError`.
* A non-DICOM, unreadable or truncated file is an :class:`InputError`, or, with
  ``on_invalid="skip"``, skipped with a logged warning naming it.
* Multi-frame (Enhanced) images are not supported yet: loading one is an :class:`InputError`.

Headers are read first for every file (pixel data is only skipped over); pixels are decoded
when a series is loaded, so that :func:`scan_dicom_series` stays cheap for large folders.
Log messages and errors name files and UIDs only, never patient-identifying attributes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import UID

from msklabel.errors import InputError
from msklabel.volume import Volume

logger = logging.getLogger(__name__)

#: A folder, a file, or several of them.
DicomSource = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
#: What to do with a file that is not DICOM, cannot be read, or is truncated.
InvalidPolicy = Literal["error", "skip"]

_PIXEL_DATA_TAG = 0x7FE00010
_UNDEFINED_LENGTH = 0xFFFFFFFF
#: Header values larger than this are skipped over, not read, while scanning.
_DEFER_SIZE = 1024
#: Tolerance on direction cosines and pixel spacings (mm) within one series.
_GEOMETRY_TOLERANCE = 1e-4
#: Slices closer than this along the normal (mm) share one position.
_DUPLICATE_TOLERANCE_MM = 1e-2
#: A step larger than this multiple of the smallest step means a missing slice.
_GAP_FACTOR = 1.5
#: Largest distance of a slice from the fitted stack, as a fraction of the slice step.
_FIT_TOLERANCE = 0.05
_DECODER_HINT = (
    "a decoder plugin is needed, e.g. pylibjpeg with pylibjpeg-openjpeg or pylibjpeg-libjpeg, "
    "or python-gdcm"
)


class _NonImageError(InputError):
    """A readable DICOM object that is not an image (SR, SEG, Presentation State, KO...)."""


@dataclass(frozen=True)
class _Instance:
    """The header attributes of one image file that the reader needs."""

    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: UID
    series_instance_uid: str
    study_instance_uid: str | None
    frame_of_reference_uid: str | None
    modality: str | None
    series_number: int | None
    series_description: str | None
    acquisition_type: str | None
    echo_time: float | None
    rows: int | None
    columns: int | None
    samples_per_pixel: int
    multi_frame: bool
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slice_spacing: float | None
    slice_thickness: float | None
    rescale: tuple[float, float] | None


@dataclass(frozen=True)
class DicomSeries:
    """The image files of one (series, echo) group, headers read, pixels not yet decoded."""

    series_instance_uid: str
    echo_time: float | None
    series_number: int | None
    series_description: str | None
    instances: tuple[_Instance, ...]

    @property
    def slice_count(self) -> int:
        """Number of image files, hence of slices once loaded."""
        return len(self.instances)

    @property
    def label(self) -> str:
        """A short description for messages, e.g. ``series 1.2.3, echo time 10 ms``."""
        echo = "" if self.echo_time is None else f", echo time {self.echo_time:g} ms"
        return f"series {self.series_instance_uid}{echo}"

    def load(self) -> Volume:
        """Check the geometry, decode the pixels and return the Volume."""
        for instance in self.instances:
            _check_supported(instance)
        _check_consistent(self.instances, self.label)
        ordered, affine = _stack_geometry(self.instances, self.label)
        first = ordered[0]
        return Volume(
            array=_read_pixels(ordered),
            affine=affine,
            echo_time=self.echo_time,
            slice_thickness=first.slice_thickness,
            series_instance_uid=self.series_instance_uid,
            study_instance_uid=first.study_instance_uid,
            frame_of_reference_uid=first.frame_of_reference_uid,
            sop_instance_uids=tuple(instance.sop_instance_uid for instance in ordered),
            sop_class_uid=first.sop_class_uid,
            modality=first.modality,
            series_description=self.series_description,
            acquisition_type=_shared({instance.acquisition_type for instance in ordered}),
            source_files=tuple(os.fspath(instance.path) for instance in ordered),
        )


def read_dicom_series(source: DicomSource, *, on_invalid: InvalidPolicy = "error") -> list[Volume]:
    """Read every (series, echo) group under ``source`` as one Volume each.

    ``source`` is a folder (searched recursively), a file, or a sequence of files and folders.
    Volumes come ordered by Series Number, then by echo time. See the module docstring for
    which files are skipped; anything else unusable raises :class:`InputError`.
    """
    return [series.load() for series in scan_dicom_series(source, on_invalid=on_invalid)]


def scan_dicom_series(
    source: DicomSource, *, on_invalid: InvalidPolicy = "error"
) -> list[DicomSeries]:
    """Read the headers under ``source`` and group the images, without decoding pixels."""
    if on_invalid not in ("error", "skip"):
        raise ValueError(f"on_invalid must be 'error' or 'skip', got {on_invalid!r}")
    files = _list_files(source)
    instances: list[_Instance] = []
    skipped = 0
    for path, in_folder in files:
        try:
            instances.append(_read_instance(path))
        except _NonImageError as error:
            if not in_folder:
                raise
            logger.warning("skipping non-image DICOM object %s", error)
            skipped += 1
        except InputError as error:
            if on_invalid == "error":
                raise
            logger.warning("skipping invalid file %s", error)
            skipped += 1
    if not instances:
        reason = "no files found" if not files else f"no DICOM image among {len(files)} file(s)"
        raise InputError(source_name(source), reason + (f" ({skipped} skipped)" if skipped else ""))
    return _group(instances)


def _list_files(source: DicomSource) -> list[tuple[Path, bool]]:
    """The files to read, each with whether it was found by searching a folder."""
    paths = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not paths:
        raise InputError("(no path)", "no file or folder given")
    files: list[tuple[Path, bool]] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend((found, True) for found in _walk(path))
        elif path.is_file():
            files.append((path, False))
        else:
            raise InputError(path, "no such file or folder")
    return files


def _walk(folder: Path) -> list[Path]:
    """Files under ``folder`` in a stable order, without hidden entries and DICOMDIR files."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        found.extend(
            Path(root, name)
            for name in sorted(names)
            if not name.startswith(".") and name.upper() != "DICOMDIR"
        )
    return found


def source_name(source: DicomSource) -> str:
    """The path that names ``source`` in messages: itself, or the common folder of a list."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return os.path.commonpath([os.path.abspath(path) for path in source])


def _read_instance(path: Path) -> _Instance:
    """Read and check the header of one file; raise :class:`InputError` if it is unusable."""
    dataset = _read_header(path)
    sop_class = UID(
        dataset.get("SOPClassUID") or dataset.file_meta.get("MediaStorageSOPClassUID") or ""
    )
    if not sop_class:
        raise InputError(path, "no SOP Class UID")
    if "Image Storage" not in sop_class.name:
        raise _NonImageError(path, f"not an image: SOP Class {_uid_text(sop_class)}")
    _check_pixel_data(dataset, path)
    if not dataset.get("SeriesInstanceUID"):
        raise InputError(path, "no Series Instance UID")
    try:
        return _instance_from(dataset, path, sop_class)
    except (ValueError, TypeError) as error:
        raise InputError(path, f"invalid attribute value ({error})") from None


def _read_header(path: Path) -> Dataset:
    try:
        return pydicom.dcmread(path, defer_size=_DEFER_SIZE)
    except InvalidDicomError:
        raise InputError(path, "not a DICOM file (no DICM prefix / file meta header)") from None
    except Exception as error:  # pydicom raises many types for damaged files
        reason = f"unreadable or truncated DICOM file ({type(error).__name__}: {error})"
        raise InputError(path, reason) from None


def _check_pixel_data(dataset: Dataset, path: Path) -> None:
    """Raise if the Pixel Data element is absent or runs past the end of the file."""
    if _PIXEL_DATA_TAG not in dataset:
        raise InputError(path, "no Pixel Data (the file may be truncated)")
    element = dataset.get_item(_PIXEL_DATA_TAG, keep_deferred=True)
    if element.length == _UNDEFINED_LENGTH:  # encapsulated: pydicom drops it if it is cut short
        return
    if element.value_tell + element.length > path.stat().st_size:
        raise InputError(path, "truncated file: it ends inside the Pixel Data")


def _instance_from(dataset: Dataset, path: Path, sop_class: UID) -> _Instance:
    spacing = _float(dataset, "SpacingBetweenSlices") or _float(dataset, "SliceThickness")
    has_rescale = "RescaleSlope" in dataset or "RescaleIntercept" in dataset
    series_number = dataset.get("SeriesNumber")
    return _Instance(
        path=path,
        sop_instance_uid=str(dataset.get("SOPInstanceUID", "")),
        sop_class_uid=str(sop_class),
        transfer_syntax=UID(dataset.file_meta.get("TransferSyntaxUID", "")),
        series_instance_uid=str(dataset.SeriesInstanceUID),
        study_instance_uid=_text(dataset, "StudyInstanceUID"),
        frame_of_reference_uid=_text(dataset, "FrameOfReferenceUID"),
        modality=_text(dataset, "Modality"),
        series_number=None if series_number in (None, "") else int(series_number),
        series_description=_text(dataset, "SeriesDescription"),
        acquisition_type=_acquisition_type(dataset),
        echo_time=_float(dataset, "EchoTime"),
        rows=dataset.get("Rows"),
        columns=dataset.get("Columns"),
        samples_per_pixel=int(dataset.get("SamplesPerPixel") or 1),
        multi_frame=int(dataset.get("NumberOfFrames") or 1) > 1
        or "PerFrameFunctionalGroupsSequence" in dataset
        or "SharedFunctionalGroupsSequence" in dataset,
        position=_floats(dataset, "ImagePositionPatient", 3),
        orientation=_floats(dataset, "ImageOrientationPatient", 6),
        pixel_spacing=_floats(dataset, "PixelSpacing", 2),
        slice_spacing=None if spacing is None else abs(spacing),
        slice_thickness=_float(dataset, "SliceThickness"),
        rescale=(
            (_float(dataset, "RescaleSlope", 1.0), _float(dataset, "RescaleIntercept", 0.0))
            if has_rescale
            else None
        ),
    )


def field_strength(header: Dataset) -> float | None:
    """Magnetic Field Strength (T) of an MR header; None if absent or not a positive number."""
    try:
        value = float(header.get("MagneticFieldStrength", "") or "nan")
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def series_header(volume: Volume) -> Dataset:
    """The header (no pixels) of ``volume``'s first source file; an empty dataset when it
    has none or it cannot be read (every attribute then reads as absent)."""
    if not volume.source_files:
        return Dataset()
    try:
        return pydicom.dcmread(volume.source_files[0], stop_before_pixels=True)
    except (OSError, InvalidDicomError):
        return Dataset()


def _text(dataset: Dataset, keyword: str) -> str | None:
    value = dataset.get(keyword)
    return None if value in (None, "") else str(value)


def _acquisition_type(dataset: Dataset) -> str | None:
    """MRAcquisitionType as "2D" or "3D"; None where absent or anything else."""
    value = str(dataset.get("MRAcquisitionType") or "").strip().upper()
    return value if value in ("2D", "3D") else None


def _shared(values: set[str | None]) -> str | None:
    """The one value all images share, or None where they differ."""
    return values.pop() if len(values) == 1 else None


def _float(dataset: Dataset, keyword: str, default: float | None = None) -> float | None:
    value = dataset.get(keyword)
    return default if value in (None, "") else float(value)


def _floats(dataset: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    value = dataset.get(keyword)
    if value in (None, ""):
        return None
    values = tuple(map(float, value if isinstance(value, MultiValue) else [value]))
    if len(values) != count:
        raise ValueError(f"{keyword} has {len(values)} values, expected {count}")
    return values


def _group(instances: list[_Instance]) -> list[DicomSeries]:
    """Split instances by (Series Instance UID, Echo Time), ordered by Series Number then TE."""
    groups: dict[tuple[str, float | None], list[_Instance]] = {}
    for instance in instances:
        groups.setdefault((instance.series_instance_uid, instance.echo_time), []).append(instance)
    series = [
        DicomSeries(
            series_instance_uid=uid,
            echo_time=echo_time,
            series_number=members[0].series_number,
            series_description=members[0].series_description,
            instances=tuple(members),
        )
        for (uid, echo_time), members in groups.items()
    ]
    return sorted(series, key=_series_order)


def _series_order(series: DicomSeries) -> tuple[bool, int, str, bool, float]:
    number, echo = series.series_number, series.echo_time
    return (number is None, number or 0, series.series_instance_uid, echo is None, echo or 0.0)


def _check_supported(instance: _Instance) -> None:
    """Raise if one image cannot be part of a Volume."""
    if instance.multi_frame:
        raise InputError(
            instance.path,
            "multi-frame (Enhanced) images are not supported yet; "
            "export the series as single-frame (classic) images",
        )
    if instance.samples_per_pixel != 1:
        raise InputError(
            instance.path,
            f"{instance.samples_per_pixel} samples per pixel; only grayscale images are supported",
        )
    missing = [
        keyword
        for keyword, value in (
            ("Rows", instance.rows),
            ("Columns", instance.columns),
            ("ImagePositionPatient", instance.position),
            ("ImageOrientationPatient", instance.orientation),
            ("PixelSpacing", instance.pixel_spacing),
        )
        if value is None
    ]
    if missing:
        raise InputError(instance.path, f"no {', '.join(missing)}: the image geometry is unknown")


def _check_consistent(instances: Sequence[_Instance], label: str) -> None:
    """Raise if an image's size, pixel spacing or orientation differs from the first one's."""
    first = instances[0]
    for instance in instances[1:]:
        for name, value, reference in (
            (
                "size (rows, columns)",
                (instance.rows, instance.columns),
                (first.rows, first.columns),
            ),
            ("Pixel Spacing", instance.pixel_spacing, first.pixel_spacing),
            ("Image Orientation (Patient)", instance.orientation, first.orientation),
        ):
            if not np.allclose(value, reference, rtol=0, atol=_GEOMETRY_TOLERANCE):
                raise InputError(
                    instance.path,
                    f"inconsistent {name} in {label}: {value} here, {reference} in {first.path}",
                )


def _stack_geometry(
    instances: Sequence[_Instance], label: str
) -> tuple[list[_Instance], np.ndarray]:
    """Order the slices along the normal and build the (slice, row, column) -> LPS affine."""
    first = instances[0]
    along_row = np.array(first.orientation[:3])  # direction of increasing column index
    along_column = np.array(first.orientation[3:])  # direction of increasing row index
    normal = np.cross(along_row, along_column)
    normal /= np.linalg.norm(normal)
    ordered = sorted(instances, key=lambda instance: float(np.dot(instance.position, normal)))
    positions = np.array([instance.position for instance in ordered])
    if len(ordered) == 1:
        origin, step = positions[0], normal * _single_slice_spacing(first)
    else:
        _check_spacing(ordered, positions @ normal, label)
        origin, step = _fit_stack(ordered, positions, label)
    row_spacing, column_spacing = first.pixel_spacing
    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = row_spacing * along_column
    affine[:3, 2] = column_spacing * along_row
    affine[:3, 3] = origin
    return ordered, affine


def _single_slice_spacing(instance: _Instance) -> float:
    if not instance.slice_spacing:
        raise InputError(
            instance.path,
            "single slice without Spacing Between Slices or Slice Thickness: "
            "the slice spacing is unknown",
        )
    return instance.slice_spacing


def _check_spacing(ordered: Sequence[_Instance], distances: np.ndarray, label: str) -> None:
    """Raise on two slices at one position, or on a gap that means a missing slice."""
    steps = np.diff(distances)
    duplicates = np.flatnonzero(steps < _DUPLICATE_TOLERANCE_MM)
    if duplicates.size:
        k = duplicates[0]
        raise InputError(
            ordered[k + 1].path,
            f"duplicate slice position in {label}: same position as {ordered[k].path}",
        )
    smallest = steps.min()
    gaps = np.flatnonzero(steps > _GAP_FACTOR * smallest)
    if gaps.size:
        k = gaps[0]
        raise InputError(
            ordered[k + 1].path,
            f"missing slice in {label}: gap of {steps[k]:.4g} mm after {ordered[k].path}, "
            f"while slices are {smallest:.4g} mm apart",
        )


def _fit_stack(
    ordered: Sequence[_Instance], positions: np.ndarray, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares origin and step vector so that position[k] = origin + k * step."""
    design = np.column_stack([np.ones(len(positions)), np.arange(len(positions))])
    (origin, step), *_ = np.linalg.lstsq(design, positions, rcond=None)
    error = np.linalg.norm(design @ np.array([origin, step]) - positions, axis=1).max()
    if error > _FIT_TOLERANCE * np.linalg.norm(step):
        folder = os.path.commonpath([os.fspath(instance.path.parent) for instance in ordered])
        raise InputError(
            folder,
            f"unevenly spaced slices in {label}: a slice lies {error:.4g} mm off a regular "
            f"stack of {np.linalg.norm(step):.4g} mm steps",
        )
    return origin, step


def _read_pixels(ordered: Sequence[_Instance]) -> np.ndarray:
    """Decode every slice, applying Rescale Slope/Intercept (as float32) if any slice has them."""
    checked: set[UID] = set()
    for instance in ordered:
        if instance.transfer_syntax not in checked:
            _check_decoder(instance)
            checked.add(instance.transfer_syntax)
    if any(instance.rescale for instance in ordered):
        return np.stack([_rescaled(instance) for instance in ordered])
    return np.stack([_decode(instance) for instance in ordered])


def _check_decoder(instance: _Instance) -> None:
    try:
        available = get_decoder(instance.transfer_syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise InputError(
            instance.path,
            f"no installed decoder can read the pixel data of transfer syntax "
            f"{_uid_text(instance.transfer_syntax)}; " + _DECODER_HINT,
        )


def _decode(instance: _Instance) -> np.ndarray:
    try:
        return pixel_array(instance.path)
    except Exception as error:  # decoders raise many types for damaged data
        reason = f"cannot decode pixel data ({_uid_text(instance.transfer_syntax)}): {error}"
        raise InputError(instance.path, reason) from None


def _rescaled(instance: _Instance) -> np.ndarray:
    slope, intercept = instance.rescale or (1.0, 0.0)
    return (_decode(instance) * slope + intercept).astype(np.float32)


def _uid_text(uid: UID) -> str:
    """``name (uid)`` for a UID pydicom knows, else the bare UID."""
    return uid if uid.name == uid else f"{uid.name} ({uid})"
