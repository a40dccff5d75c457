"""The app's studies: the default local datastore (the real sample knee as NIfTI in a cache
folder), and the login of a DICOMweb datastore."""

from __future__ import annotations

import os
from pathlib import Path

from msklabel.data.sample import cache_root, fetch_sample
from msklabel.dicomweb import DicomWebAuth
from msklabel.labeling.series import write_series_nifti

#: The sample knee's image in the datastore (first echo of the MESE T2 series).
SAMPLE_IMAGE = "knee_mese_t2.nii.gz"
#: MONAI Label's settings of a DICOMweb login (HTTP basic only): its DICOMweb proxy (the way
#: the bundled OHIF reaches the PACS) and the app's DICOMweb datastore both log in with them.
DICOMWEB_USER_SETTING = "MONAI_LABEL_DICOMWEB_USERNAME"
DICOMWEB_PASSWORD_SETTING = "MONAI_LABEL_DICOMWEB_PASSWORD"


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


def studies_login(user: str) -> DicomWebAuth:
    """The DICOMweb datastore's login: HTTP basic as ``user`` (MONAI Label's
    :data:`DICOMWEB_USER_SETTING`) with the password in the environment variable
    :data:`DICOMWEB_PASSWORD_SETTING`, never in a file (MONAI Label would also read a ``.env``
    file); no user: no login."""
    if not user:
        return DicomWebAuth()
    return DicomWebAuth(user=user, password_env=DICOMWEB_PASSWORD_SETTING)
