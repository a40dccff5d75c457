"""Send result files to a destination: C-STORE to a DICOM AE, or STOW-RS to a DICOMweb URL.

A failure to reach or be accepted by the destination raises :class:`SendError`, which the
worker treats as transient (the job is retried with backoff). A DICOMweb destination logs in
as its ``auth`` says (:mod:`msklabel.dicomweb`): a refused login, or its secret missing from
the environment, is a :class:`SendError` naming the login, never the secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE

from msklabel.errors import MsklabelError
from msklabel.pacs.config import Destination

DEFAULT_CALLING_AE = "MSKLABEL"


class SendError(MsklabelError, ConnectionError):
    """A destination could not be reached or refused an instance."""


def send_files(destination: Destination, paths: Sequence[Path], calling_ae: str = "") -> None:
    """Send the DICOM files ``paths`` to ``destination``, all or :class:`SendError`."""
    datasets = [pydicom.dcmread(path) for path in paths]
    if destination.type == "dicom":
        _c_store(destination, datasets, destination.calling_ae_title or calling_ae)
    else:
        _stow(destination, datasets)


def _c_store(destination: Destination, datasets: Sequence[Dataset], calling_ae: str) -> None:
    ae = AE(ae_title=calling_ae or DEFAULT_CALLING_AE)
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class)
    association = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    if not association.is_established:
        raise SendError(f"{destination.name}: association not established")
    try:
        for dataset in datasets:
            status = association.send_c_store(dataset)
            code = getattr(status, "Status", None)
            if code is None:
                raise SendError(f"{destination.name}: no response to C-STORE")
            if code not in (0x0000, 0xB000, 0xB007, 0xB006):
                raise SendError(
                    f"{destination.name}: C-STORE of {dataset.SOPInstanceUID} failed with "
                    f"status 0x{code:04X}"
                )
    finally:
        association.release()


def _stow(destination: Destination, datasets: Sequence[Dataset]) -> None:
    from requests import RequestException

    from msklabel.dicomweb import MissingSecret, dicomweb_client, refused_login

    try:
        dicomweb_client(destination.url, destination.auth).store_instances(list(datasets))
    except MissingSecret as error:
        raise SendError(f"{destination.name}: {error} (it holds the login's secret)") from None
    except (RequestException, OSError) as error:
        reason = refused_login(error, destination.auth) or f"STOW-RS failed ({error})"
        raise SendError(f"{destination.name}: {reason}") from None
