"""One received instance: stored and recorded, or refused when the disk is nearly full, or
kept aside with its reason (undecodable pixels, a reused SOP Instance UID, non-DICOM bytes)."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.filewriter import write_file_meta_info

from msklabel.pacs.intake import CANNOT_UNDERSTAND, OUT_OF_RESOURCES, SUCCESS, Intake
from msklabel.pacs.status import StatusStore
from msklabel.pacs.storage import InstanceStore
from msklabel.testing.listener import jpeg2000_copy


def test_an_instance_is_recorded_once_and_refused_below_the_watermark(
    tmp_path: Path, make_study
) -> None:
    study = make_study()
    data = study.files[0].read_bytes()
    store = InstanceStore(tmp_path / "storage")
    status = StatusStore(tmp_path / "storage" / "status.sqlite3")
    intake = Intake(store, status, min_free_bytes=0)
    first, second = intake.receive(data), intake.receive(data)
    assert (first.status, first.new) == (SUCCESS, True)
    assert (second.status, second.new, second.message) == (SUCCESS, False, "already stored")
    (row,) = status.study_instances(study.study_uid)
    assert row.series_uid == study.series_uid and Path(row.path).read_bytes() == data

    full = Intake(store, status, min_free_bytes=store.free_bytes() + 2**40)
    refused = full.receive(make_study().files[0].read_bytes())
    assert refused.status == OUT_OF_RESOURCES and "watermark" in refused.message
    assert status.summary()["instances"] == 1


def test_files_stored_but_not_recorded_before_a_crash_are_recorded_at_start(
    tmp_path: Path, make_study
) -> None:
    study = make_study()
    store = InstanceStore(tmp_path / "storage")
    status = StatusStore(tmp_path / "storage" / "status.sqlite3")
    store.store(study.files[0].read_bytes(), study.study_uid, study.series_uid, "1.2.3.4")
    assert Intake(store, status, 0).recover() == 1
    assert status.summary()["instances"] == 1
    assert Intake(store, status, 0).recover() == 0


@pytest.fixture
def intake(tmp_path: Path) -> Intake:
    store = InstanceStore(tmp_path / "storage")
    return Intake(store, StatusStore(tmp_path / "storage" / "status.sqlite3"), 0)


def _aside(intake: Intake) -> dict[str, str]:
    return {row["kind"]: row["reason"] for row in intake.status.summary()["quarantined"]}


def test_jpeg2000_pixels_are_decoded_before_success(intake: Intake, make_study, tmp_path) -> None:
    source = make_study().files[0]
    good = jpeg2000_copy(source, tmp_path / "good.dcm")
    bad = jpeg2000_copy(source, tmp_path / "bad.dcm", corrupt=True)
    assert intake.receive(good.read_bytes()).status == SUCCESS
    refused = intake.receive(bad.read_bytes())
    assert refused.status == CANNOT_UNDERSTAND
    reason = _aside(intake)["undecodable"]
    assert reason.startswith("JPEG 2000 Image Compression (Lossless Only) pixel data do not decode")
    (row,) = intake.status.summary()["quarantined"]
    assert (Path(row["folder"]) / "instance.dcm").read_bytes() == bad.read_bytes()
    assert intake.status.summary()["instances"] == 1


def test_a_sop_instance_uid_stored_under_another_study_is_kept_aside(
    intake: Intake, make_study, caplog
) -> None:
    first, second = make_study(), make_study()
    data = first.files[0].read_bytes()
    intake.receive(data)
    ds = pydicom.dcmread(second.files[0])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.dcmread(
        first.files[0]
    ).SOPInstanceUID
    ds.PatientName = "DOE^JANE"
    clash = io.BytesIO()
    ds.save_as(clash, enforce_file_format=True)
    outcome = intake.receive(clash.getvalue())
    assert outcome.status == CANNOT_UNDERSTAND
    assert "already stored under another study or series" in _aside(intake)["conflict"]
    (stored,) = intake.store.stored_files()
    assert stored.read_bytes() == data, "the first copy stays"
    (row,) = intake.status.summary()["quarantined"]
    assert (Path(row["folder"]) / "instance.dcm").read_bytes() == clash.getvalue()
    assert "conflict" in caplog.text and "DOE" not in caplog.text
    assert second.study_uid not in caplog.text


def test_non_dicom_bytes_are_kept_aside_as_not_dicom(intake: Intake, make_study) -> None:
    header = pydicom.dcmread(make_study().files[0]).file_meta
    framed = io.BytesIO()
    framed.write(bytes(128) + b"DICM")
    write_file_meta_info(framed, header)
    framed.write(b"this is a text file, not a DICOM data set\n" * 20)
    for data in (b"%PDF-1.7 not an image", framed.getvalue()):
        assert intake.receive(data).status == CANNOT_UNDERSTAND
    reasons = [row["reason"] for row in intake.status.summary()["quarantined"]]
    assert reasons[0] == "not DICOM: no 'DICM' file header (21 bytes)"
    assert reasons[1].startswith("not DICOM: none of the")
    assert {row["kind"] for row in intake.status.summary()["quarantined"]} == {"not-dicom"}
