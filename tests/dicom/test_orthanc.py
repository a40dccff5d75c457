"""A real Orthanc accepts the SEG, the SR and the report over C-STORE and STOW-RS."""

from __future__ import annotations

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pynetdicom import AE
from pynetdicom.sop_class import (
    Comprehensive3DSRStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
)

from msklabel.biomarkers.figure import figure_rgb, render_report
from msklabel.dicom.report import make_report_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def objects(stored_study) -> list[pydicom.Dataset]:
    figure = render_report(
        stored_study.echoes[0], stored_study.labels, stored_study.result, "phantom"
    )
    report = make_report_image(figure_rgb(figure), stored_study.source[0])
    return [
        pydicom.dcmread(stored_study.seg_path),
        pydicom.dcmread(stored_study.sr_path),
        report,
    ]


def test_c_store(orthanc, objects):
    ae = AE(ae_title="MSKLABEL")
    for context in (SegmentationStorage, Comprehensive3DSRStorage, SecondaryCaptureImageStorage):
        ae.add_requested_context(context)
    association = ae.associate("127.0.0.1", orthanc.dicom_port, ae_title=orthanc.aet)
    assert association.is_established
    try:
        statuses = [association.send_c_store(dataset).Status for dataset in objects]
    finally:
        association.release()
    assert statuses == [0, 0, 0]
    assert orthanc.instance_uids() == {d.SOPInstanceUID for d in objects}


def test_stow_rs(orthanc, objects):
    client = DICOMwebClient(url=orthanc.dicomweb_url)
    response = client.store_instances(objects)
    assert not response.get("FailedSOPSequence")
    assert len(response.ReferencedSOPSequence) == len(objects)
    assert orthanc.instance_uids() == {d.SOPInstanceUID for d in objects}
