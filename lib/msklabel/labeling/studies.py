"""The default local datastore: the real sample knee as NIfTI in a cache folder."""

from __future__ import annotations

import os
from pathlib import Path

from msklabel.data.sample import cache_root, fetch_sample
from msklabel.labeling.series import write_series_nifti

#: The sample knee's image in the datastore (first echo of the MESE T2 series).
SAMPLE_IMAGE = "knee_mese_t2.nii.gz"


def sample_studies(folder: str | os.PathLike[str] | None = None) -> Path:
    """A datastore folder holding the sample knee (written once; default under the cache)."""
    root = Path(folder) if folder is not None else cache_root() / "monailabel-studies"
    image = root / SAMPLE_IMAGE
    if not image.is_file():
        root.mkdir(parents=True, exist_ok=True)
        partial = root / f".{SAMPLE_IMAGE}.{os.getpid()}.nii.gz"
        write_series_nifti(fetch_sample().dicom_dir, partial)
        os.replace(partial, image)
    return root
