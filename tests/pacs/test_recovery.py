"""SIGKILL during a transfer and during a job: nothing acknowledged is lost, results go out once."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pydicom
import pytest

from msklabel.pacs import StatusStore
from msklabel.ports import free_port
from msklabel.testing.listener import ListenerProcess, series_counts, wait_for, write_config
from msklabel.testing.orthanc import OrthancServer


def _acknowledged(storescu_output: str) -> list[Path]:
    """The files storescu saw a Success response for (its ``-v`` log)."""
    acked, current = [], None
    for line in storescu_output.splitlines():
        if match := re.match(r"I: Sending file: (.+)$", line):
            current = Path(match.group(1))
        elif "Received Store Response (Success)" in line and current is not None:
            acked.append(current)
    return acked


@pytest.mark.slow
def test_listener_killed_during_a_transfer_keeps_every_acknowledged_instance(
    sample, tmp_path: Path, processes: list[ListenerProcess]
) -> None:
    port, storage = free_port(), tmp_path / "storage"
    config = write_config(tmp_path / "config.json", storage, port)
    listener = ListenerProcess(config, role="listener").start()
    processes.append(listener)
    files = sorted(sample.dicom_dir.iterdir())
    sender = subprocess.Popen(
        ["storescu", "-v", "-aec", "MSKLABEL", "127.0.0.1", str(port), *map(str, files)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    instances = storage / "instances"
    wait_for(lambda: len(list(instances.glob("*/*/*.dcm"))) >= 20, 120, "20 stored instances")
    listener.kill()
    output, _ = sender.communicate(timeout=120)
    acked = _acknowledged(output)
    assert 20 <= len(acked) < len(files), output[-2000:]  # killed mid-transfer
    stored = {path.stem: path for path in instances.glob("*/*/*.dcm")}
    for path in acked:
        sop = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        assert pydicom.dcmread(stored[sop]).pixel_array.shape == (256, 256)
    assert not list(storage.glob("instances/**/*.part"))

    processes.append(ListenerProcess(config, role="listener").start())
    resent = subprocess.run(
        ["storescu", "-aec", "MSKLABEL", "127.0.0.1", str(port), *map(str, files)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resent.returncode == 0, resent.stderr
    assert not list((storage / "incoming").iterdir())  # partial files of the kill removed
    assert len(list(instances.glob("*/*/*.dcm"))) == len(files)
    assert StatusStore(storage / "status.sqlite3").summary()["instances"] == len(files)


@pytest.mark.slow
def test_worker_killed_during_a_job_finishes_it_and_sends_one_set(
    make_study, labels_dir: Path, tmp_path: Path, processes: list[ListenerProcess]
) -> None:
    port, storage = free_port(), tmp_path / "storage"
    with OrthancServer() as orthanc:
        config = write_config(
            tmp_path / "config.json", storage, port,
            pipeline={"segmentation": "labels", "labels_dir": str(labels_dir)},
            destinations=[{"type": "dicom", "ae_title": orthanc.aet, "host": "127.0.0.1",
                           "port": orthanc.dicom_port}],
        )  # fmt: skip
        processes.append(ListenerProcess(config, role="listener").start())
        worker = ListenerProcess(config, role="worker").start()
        processes.append(worker)
        study = make_study(demographics=True)
        sent = subprocess.run(
            ["storescu", "-aec", "MSKLABEL", "127.0.0.1", str(port), *map(str, study.files)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        status = StatusStore(storage / "status.sqlite3")

        def running_step() -> str | None:
            jobs = status.summary()["jobs"]
            steps = jobs[0]["steps"] if jobs else []
            return next((s["name"] for s in steps if s["state"] == "running"), None)

        wait_for(lambda: running_step() == "results", 300, "the results step")
        worker.kill()
        processes.append(ListenerProcess(config, role="worker").start())
        wait_for(lambda: status.summary()["jobs"][0]["finished"], 300, "the job to finish")
        (job,) = status.summary()["jobs"]
        assert job["state"] == "done" and job["attempts"] == 2, job
        assert series_counts(orthanc, study.study_uid) == {
            "SEG": [1], "SR": [1], "msklabel report": [1],
        }  # fmt: skip
