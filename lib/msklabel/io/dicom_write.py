"""Write volumes as DICOM MR Image Storage series (one file per slice)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from msklabel import __version__
from msklabel.volume import Volume


@dataclass(frozen=True)
class SeriesInfo:
    """Patient, study and series attributes of a written series.

    The defaults describe a synthetic subject: nothing here identifies a person.
    """

    patient_name: str = "PHANTOM^KNEE"
    patient_id: str = "PHANTOM"
    patient_sex: str = "O"
    patient_age: str = ""
    patient_weight: float | None = None
    patient_size: float | None = None
    study_instance_uid: str | None = None
    study_id: str = "1"
    accession_number: str = ""
    study_description: str = "MSK knee phantom"
    series_instance_uid: str | None = None
    series_number: int = 1
    series_description: str = "phantom"
    frame_of_reference_uid: str | None = None
    body_part_examined: str = "KNEE"
    repetition_time: float = 2000.0
    scanning_sequence: str = "SE"
    sequence_variant: str = "NONE"
    manufacturer: str = "msklabel"
    date: dt.date = dt.date(2026, 1, 1)


def write_mr_series(
    volumes: Sequence[Volume], out_dir: str | os.PathLike[str], info: SeriesInfo | None = None
) -> list[Path]:
    """Write one MR series holding every volume of ``volumes`` (e.g. one per echo).

    All volumes must share shape and affine; each contributes one image per
    slice, with its own ``echo_time`` and Echo Number. Arrays must hold
    integers in 0..65535 (they are written as 16-bit unsigned pixels).
    Returns the paths written, in Instance Number order.
    """
    if not volumes:
        raise ValueError("no volume to write")
    info = info or SeriesInfo()
    first = volumes[0]
    for volume in volumes[1:]:
        problem = first.grid_mismatch(volume)
        if problem is not None:
            raise ValueError(f"all volumes of one series must share one grid: {problem}")
    study_uid = info.study_instance_uid or generate_uid()
    series_uid = info.series_instance_uid or generate_uid()
    frame_uid = info.frame_of_reference_uid or generate_uid()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    direction = first.affine[:3, :3] / np.array(first.spacing)
    row_cosine = direction[:, 2]  # along a row: increasing column index
    column_cosine = direction[:, 1]  # down a column: increasing row index
    slice_spacing, row_spacing, column_spacing = first.spacing

    paths: list[Path] = []
    instance = 0
    for echo_number, volume in enumerate(volumes, start=1):
        pixels = _as_uint16(volume.array)
        for k in range(volume.shape[0]):
            instance += 1
            ds = _base_dataset(info, study_uid, series_uid, frame_uid)
            ds.MRAcquisitionType = volume.acquisition_type or ""
            ds.InstanceNumber = instance
            ds.ImagePositionPatient = [_ds(v) for v in volume.index_to_patient([k, 0, 0])]
            ds.ImageOrientationPatient = [_ds(v) for v in (*row_cosine, *column_cosine)]
            ds.PixelSpacing = [_ds(row_spacing), _ds(column_spacing)]
            ds.SliceThickness = _ds(slice_spacing)
            ds.SpacingBetweenSlices = _ds(slice_spacing)
            ds.EchoTime = _ds(volume.echo_time if volume.echo_time is not None else 0.0)
            ds.EchoNumbers = echo_number
            ds.EchoTrainLength = len(volumes)
            ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
            ds.PixelData = np.ascontiguousarray(pixels[k]).tobytes()
            ds.LargestImagePixelValue = int(pixels[k].max())
            ds["LargestImagePixelValue"].VR = "US"
            path = out / f"IM{instance:05d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def _as_uint16(array: np.ndarray) -> np.ndarray:
    integral = np.issubdtype(array.dtype, np.integer) or (
        np.all(np.isfinite(array)) and np.array_equal(array, np.round(array))
    )
    if not integral:
        raise ValueError("MR pixels must be integers; round or rescale the array first")
    if array.min() < 0 or array.max() > 65535:
        raise ValueError(f"MR pixels must lie in 0..65535, got {array.min()}..{array.max()}")
    return array.astype("<u2", copy=False)


def _ds(value: float) -> str:
    """A Decimal String value of at most 16 characters that round-trips to ~1e-9 mm."""
    text = f"{value:.10g}"
    if len(text) > 16:
        text = f"{value:.8g}"
    return "0" if text in ("-0", "0") else text


def _base_dataset(info: SeriesInfo, study_uid: str, series_uid: str, frame_uid: str) -> Dataset:
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    date = info.date.strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = "120000"
    ds.PatientName = info.patient_name
    ds.PatientID = info.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = info.patient_sex
    if info.patient_age:
        ds.PatientAge = info.patient_age
    if info.patient_weight is not None:
        ds.PatientWeight = _ds(info.patient_weight)
    if info.patient_size is not None:
        ds.PatientSize = _ds(info.patient_size)
    ds.StudyInstanceUID = study_uid
    ds.StudyID = info.study_id
    ds.AccessionNumber = info.accession_number
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = info.study_description
    ds.Modality = "MR"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = info.series_number
    ds.SeriesDescription = info.series_description
    ds.BodyPartExamined = info.body_part_examined
    ds.PatientPosition = "FFS"
    ds.Laterality = ""
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = info.manufacturer
    ds.SoftwareVersions = f"msklabel {__version__}"
    ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    ds.AcquisitionNumber = 1
    ds.ScanningSequence = info.scanning_sequence
    ds.SequenceVariant = info.sequence_variant
    ds.ScanOptions = ""
    ds.RepetitionTime = _ds(info.repetition_time)
    ds.MagneticFieldStrength = "3"
    ds.ImagedNucleus = "1H"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    return ds
