"""Retries: a job whose destination is down, or refuses the login, is retried with backoff
(the steps already done are not run again, their results are what is sent), then fails with
the reason; a deterministic failure is not retried."""

from __future__ import annotations

import errno
import json
import sqlite3
import time
from pathlib import Path

import pydicom
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from msklabel.errors import InputError
from msklabel.pacs import Service, load_config, worker
from msklabel.pacs.pipeline import SENT_FILES, StepFailed
from msklabel.pacs.send import SendError
from msklabel.ports import free_port
from msklabel.testing.listener import storescu, wait_for
from msklabel.testing.orthanc import OrthancServer


@pytest.mark.slow
def test_a_transient_failure_is_retried_then_fails_with_its_reason(
    tmp_path: Path, labels_dir: Path, make_study
) -> None:
    config = load_config(
        storage=tmp_path / "storage",
        listener={"host": "127.0.0.1", "port": 0, "min_free_mb": 1},
        completion={"inactivity_s": 1.0, "check_every_s": 0.2},
        queue={"retries": 2, "retry_delay_s": 0.2},
        pipeline={"steps": ["select", "segment", "results", "send"], "segmentation": "labels",
                  "labels_dir": str(labels_dir)},
        destinations=[{"type": "dicom", "ae_title": "DOWN", "host": "127.0.0.1",
                       "port": free_port()}],
        status={"port": 0},
    )  # fmt: skip
    study = make_study()
    with Service(config) as service:
        assert storescu(service.listener.port, study.files).returncode == 0
        wait_for(lambda: (service.status.summary()["jobs"] or [{}])[0].get("finished"), 300,
                 "the job to fail")  # fmt: skip
        (job,) = service.status.summary()["jobs"]
    assert (job["state"], job["attempts"]) == ("failed", 3)
    assert "association not established" in job["error"] and "no retries left" in job["error"]
    states = {step["name"]: step["state"] for step in job["steps"]}
    assert states == {"select": "done", "segment": "done", "results": "done", "send": "failed"}
    assert len(list((config.storage / "results").glob("*/job-*/results/seg.dcm"))) == 1


@pytest.mark.slow
def test_a_refused_stow_login_keeps_the_results_for_the_retry_that_logs_in(
    tmp_path: Path, labels_dir: Path, make_study, monkeypatch, caplog
) -> None:
    """Orthanc asks for a login: the first send, with a wrong password, fails and is retried;
    once the password is right, the retry sends the very results the first attempt wrote
    (the same files, unchanged), and the secret is in no status or log line."""
    caplog.set_level("DEBUG")
    password = "pw-61f0d2c8e4"
    monkeypatch.setenv("MSK_TEST_STOW_PW", "wrong-" + password)
    with OrthancServer(users={"radiology": password}) as orthanc:
        config = load_config(
            storage=tmp_path / "storage",
            listener={"host": "127.0.0.1", "port": 0, "min_free_mb": 1},
            completion={"inactivity_s": 0.5, "check_every_s": 0.2},
            queue={"retries": 3, "retry_delay_s": 1.0},
            pipeline={"steps": ["select", "segment", "results", "send"],
                      "segmentation": "labels", "labels_dir": str(labels_dir)},
            destinations=[{"type": "dicomweb", "url": orthanc.dicomweb_url,
                           "user": "radiology", "password_env": "MSK_TEST_STOW_PW"}],
            status={"port": 0},
        )  # fmt: skip
        with Service(config) as service:
            assert storescu(service.listener.port, make_study().files).returncode == 0

            def job() -> dict:
                return (service.status.summary()["jobs"] or [{}])[0]

            wait_for(lambda: job().get("state") == "retrying", 120, "the refused send")
            first = job()
            results = next((config.storage / "results").glob("*/job-*/results"))
            written = {path.name: path.stat().st_mtime_ns for path in results.glob("*.dcm")}
            monkeypatch.setenv("MSK_TEST_STOW_PW", password)
            wait_for(lambda: job().get("finished"), 120, "the job to end")
            last = job()
            shown = json.dumps([first, service.status.summary()], default=str)
        stored = orthanc.instance_uids()
    assert "the server refused the login (user 'radiology' with the password in " \
           "$MSK_TEST_STOW_PW; HTTP 401)" in first["error"]  # fmt: skip
    assert {step["name"]: step["state"] for step in first["steps"]}["send"] == "failed"
    assert last["state"] == "done" and last["attempts"] >= 2, last
    assert {path.name: path.stat().st_mtime_ns for path in results.glob("*.dcm")} == written
    sops = {str(pydicom.dcmread(results / name, stop_before_pixels=True).SOPInstanceUID)
            for name in SENT_FILES}  # fmt: skip
    assert stored == sops  # all three results, once each
    assert caplog.records and password not in shown + caplog.text


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (SendError("dicom:PACS@pacs:104: association not established"), True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), True),
        (TimeoutError("timed out"), True),
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (RedisConnectionError("Connection refused"), True),
        (FileNotFoundError(errno.ENOENT, "gone"), False),
        (PermissionError(errno.EACCES, "denied"), False),
        (sqlite3.OperationalError("no such table: jobs"), False),
        (StepFailed("the medial plate does not cover its bone"), False),
        (InputError("labels.nii.gz", "shape differs from the series"), False),
        (ValueError("not a sagittal series"), False),
        (KeyError("name"), False),
    ],
)
def test_only_transient_errors_are_retried(error: BaseException, transient: bool) -> None:
    assert worker.is_transient(error) is transient


@pytest.mark.slow
def test_a_deterministic_failure_fails_at_once_with_its_reason(
    tmp_path: Path, labels_dir: Path, make_study, monkeypatch
) -> None:
    """The real listener, queue and worker; the pipeline's run raises what a measurement
    that cannot work raises (a ValueError), which no retry would change."""
    runs = []

    def fails(self) -> None:
        runs.append(self.job.id)
        raise ValueError("the plate does not cover its bone")

    monkeypatch.setattr(worker.JobRun, "run", fails)
    config = load_config(
        storage=tmp_path / "storage",
        listener={"host": "127.0.0.1", "port": 0, "min_free_mb": 1},
        completion={"inactivity_s": 1.0, "check_every_s": 0.2},
        queue={"retries": 2, "retry_delay_s": 0.2},
        pipeline={"steps": ["select", "segment"], "segmentation": "labels",
                  "labels_dir": str(labels_dir)},
        status={"port": 0},
    )  # fmt: skip
    study = make_study()
    with Service(config) as service:
        assert storescu(service.listener.port, study.files).returncode == 0
        wait_for(lambda: (service.status.summary()["jobs"] or [{}])[0].get("finished"), 120,
                 "the job to fail")  # fmt: skip
        time.sleep(1.0)  # five retry delays: a retry would have started by now
        assert service.queue.pending_job_ids() == set()
        (job,) = service.status.summary()["jobs"]
    assert (job["state"], job["attempts"], len(runs)) == ("failed", 1, 1)
    assert job["error"] == "ValueError: the plate does not cover its bone"
