"""The visual report as a DICOM Secondary Capture image, which any PACS viewer shows."""

from __future__ import annotations

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from msklabel.dicom.common import blank_placeholder_dates
from msklabel.dicom.seg import MANUFACTURER


def make_report_image(
    rgb: np.ndarray,
    reference: Dataset,
    *,
    series_number: int = 902,
    series_description: str = "msklabel report",
) -> hd.sc.SCImage:
    """A Secondary Capture of ``rgb`` (rows, columns, 3; uint8) in ``reference``'s study."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"need an 8-bit RGB image, got {rgb.dtype} {rgb.shape}")
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=reference,
        pixel_array=rgb,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_orientation=("A", "F"),
        series_description=series_description,
    )
    image.Laterality = reference.get("Laterality", "")  # Type 2C for paired body parts
    blank_placeholder_dates(image)
    return image
