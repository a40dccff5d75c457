"""The typed instance header: written at intake, stored by the status store, read by the
pipeline; status databases of the previous version still read."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pydicom

from msklabel.pacs.header import InstanceHeader, orientation_of
from msklabel.pacs.intake import Intake
from msklabel.pacs.rules import DEFAULT_RULES, SeriesSummary, select_series
from msklabel.pacs.status import StatusStore
from msklabel.pacs.storage import InstanceStore

#: The previous version's status database (its own Intake wrote it; see the file's header).
OLD_DATABASE = Path(__file__).parent / "data" / "status_before_typed_header.sql"


def test_intake_stores_the_typed_header_and_no_patient_attribute(
    tmp_path: Path, make_study
) -> None:
    study = make_study(demographics=True)
    status = StatusStore(tmp_path / "status.sqlite3")
    intake = Intake(InstanceStore(tmp_path / "storage"), status, 0)
    for path in study.files:
        intake.receive(path.read_bytes())
    rows = status.study_instances(study.study_uid)
    assert {row.header for row in rows} == {
        InstanceHeader("MR", "KNEE", "phantom", echo, 94, 94, "sagittal") for echo in (10.0, 40.0)
    }
    assert SeriesSummary.of(study.series_uid, [row.header for row in rows]) == SeriesSummary(
        study.series_uid, "MR", "KNEE", "phantom", "sagittal", 2, 21, 94, 94
    )
    dataset = pydicom.dcmread(study.files[0], stop_before_pixels=True)
    patient = [str(dataset[k].value) for k in ("PatientName", "PatientID", "PatientAge")]
    assert all(patient), "the study carries patient attributes"
    for (text,) in sqlite3.connect(status.path).execute("SELECT header FROM instances"):
        assert set(json.loads(text)) == {f.name for f in dataclasses.fields(InstanceHeader)}
        assert not any(value in text for value in patient)


def test_a_status_database_of_the_previous_version_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "status.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_DATABASE.read_text())
    status = StatusStore(path)
    ((study,),) = sqlite3.connect(path).execute("SELECT study_uid FROM studies").fetchall()
    rows = status.study_instances(study)
    assert len(rows) == 42
    assert {row.header for row in rows} == {
        InstanceHeader("MR", "KNEE", "phantom", echo, 94, 94, "sagittal") for echo in (10.0, 40.0)
    }
    (series,) = {row.series_uid for row in rows}
    selection = select_series([SeriesSummary.of(series, [r.header for r in rows])], DEFAULT_RULES)
    assert selection.series is not None and selection.series.images == 42


def test_stored_json_round_trips_and_absent_values_of_old_rows_read_as_defaults() -> None:
    header = InstanceHeader("MR", "", "T2 map", 6.3, 256, 256, "coronal")
    assert InstanceHeader.from_json(header.to_json()) == header
    # The previous version stored absent texts as null; a key it did not write is defaulted,
    # one this version does not know is ignored.
    old = '{"modality": null, "body_part": null, "description": null, "echo_time": "12", ' \
          '"rows": 64, "columns": 64, "future": 1}'  # fmt: skip
    assert InstanceHeader.from_json(old) == InstanceHeader("", "", "", 12.0, 64, 64, "unknown")


def test_orientation_from_image_orientation_patient() -> None:
    assert orientation_of([0, 1, 0, 0, 0, -1]) == "sagittal"
    assert orientation_of([1, 0, 0, 0, 0, -1]) == "coronal"
    assert orientation_of([1, 0, 0, 0, 1, 0]) == "axial"
    assert orientation_of(None) == "unknown"
