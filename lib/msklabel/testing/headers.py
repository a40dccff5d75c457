"""MR image headers built with pydicom, for testing what reads acquisition facts from them
(the chemical shift, fat suppression)."""

from __future__ import annotations

import io

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

#: The readout of the sample knee (GE, 3 T, multi-echo spin echo, no fat suppression).
SAMPLE_READOUT = {
    "MagneticFieldStrength": "3",
    "PixelBandwidth": "488.281",
    "InPlanePhaseEncodingDirection": "ROW",
    "AcquisitionMatrix": [0, 256, 256, 0],
    "Rows": 256,
    "Columns": 256,
    "PixelSpacing": [0.625, 0.625],
    "ScanOptions": ["FAST_GEMS", "ACC_GEMS"],
    "ScanningSequence": "SE",
}


def mr_header(**attributes: object) -> Dataset:
    """An MR image header holding ``attributes`` (keywords; None leaves one out), written
    as a DICOM file and read back."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "MR"
    for keyword, value in attributes.items():
        if value is not None:
            setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)
