"""Sending results: STOW-RS to Orthanc's DICOMweb, C-STORE errors reported."""

from __future__ import annotations

import pydicom
import pytest

from msklabel.pacs.config import Destination
from msklabel.pacs.send import SendError, send_files
from msklabel.ports import free_port


def test_stow_rs_stores_in_orthanc_and_a_dead_peer_is_an_error(orthanc, make_study) -> None:
    files = make_study().files[:2]
    send_files(Destination("dicomweb", url=orthanc.dicomweb_url), files)
    sent = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in files}
    assert orthanc.instance_uids() == sent

    nobody = Destination("dicom", ae_title="PACS", host="127.0.0.1", port=free_port())
    with pytest.raises(SendError, match="association not established"):
        send_files(nobody, files)
