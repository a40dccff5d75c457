"""Sending results: STOW-RS to Orthanc's DICOMweb (with and without a login), C-STORE errors
reported."""

from __future__ import annotations

import pydicom
import pytest

from msklabel.dicomweb import DicomWebAuth
from msklabel.pacs.config import Destination
from msklabel.pacs.send import SendError, send_files
from msklabel.ports import free_port
from msklabel.testing.orthanc import OrthancServer


def test_stow_rs_stores_in_orthanc_and_a_dead_peer_is_an_error(orthanc, make_study) -> None:
    files = make_study().files[:2]
    send_files(Destination("dicomweb", url=orthanc.dicomweb_url), files)
    sent = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in files}
    assert orthanc.instance_uids() == sent

    nobody = Destination("dicom", ae_title="PACS", host="127.0.0.1", port=free_port())
    with pytest.raises(SendError, match="association not established"):
        send_files(nobody, files)


def test_stow_rs_logs_in_with_the_secret_from_the_environment(
    make_study, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Orthanc with HTTP basic authentication: the right password stores; an unset or a wrong
    one is a SendError naming the destination and the login, never the secret, and stores
    nothing."""
    caplog.set_level("DEBUG")
    password = "pw-3a9e6b0f12"
    files = make_study().files[:2]
    sent = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in files}
    with OrthancServer(users={"radiology": password}) as orthanc:
        url = orthanc.dicomweb_url
        auth = DicomWebAuth(user="radiology", password_env="MSK_TEST_STOW_PW")
        monkeypatch.delenv("MSK_TEST_STOW_PW", raising=False)
        with pytest.raises(SendError) as unset:
            send_files(Destination("dicomweb", url=url, auth=auth), files)
        assert str(unset.value) == (f"dicomweb:{url}: environment variable MSK_TEST_STOW_PW is "
                                    "not set (it holds the login's secret)")  # fmt: skip
        monkeypatch.setenv("MSK_TEST_STOW_PW", "wrong-" + password)
        with pytest.raises(SendError) as wrong:
            send_files(Destination("dicomweb", url=url, auth=auth), files)
        assert str(wrong.value) == (
            f"dicomweb:{url}: the server refused the login (user 'radiology' with the password "
            "in $MSK_TEST_STOW_PW; HTTP 401)"
        )
        with pytest.raises(SendError, match=r"refused the login \(no credentials given; HTTP 401"):
            send_files(Destination("dicomweb", url=url), files)
        assert orthanc.instance_uids() == set()
        monkeypatch.setenv("MSK_TEST_STOW_PW", password)
        send_files(Destination("dicomweb", url=url, auth=auth), files)
        assert orthanc.instance_uids() == sent
    assert caplog.records and password not in caplog.text
