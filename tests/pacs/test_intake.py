"""One received instance: stored and recorded, or refused when the disk is nearly full."""

from __future__ import annotations

from pathlib import Path

from msklabel.pacs.intake import OUT_OF_RESOURCES, SUCCESS, Intake
from msklabel.pacs.status import StatusStore
from msklabel.pacs.storage import InstanceStore


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
    assert row["series_uid"] == study.series_uid and Path(row["path"]).read_bytes() == data

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
