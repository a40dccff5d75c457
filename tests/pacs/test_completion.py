"""Study completion by inactivity, late arrivals, and recovery of a dead worker's job."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from msklabel.pacs import load_config
from msklabel.pacs.completion import Housekeeper
from msklabel.pacs.header import InstanceHeader
from msklabel.pacs.queue import JobQueue
from msklabel.pacs.status import StatusStore


def _setup(tmp_path: Path, inactivity: float) -> tuple[StatusStore, JobQueue, Housekeeper]:
    config = load_config(storage=tmp_path, completion={"inactivity_s": inactivity})
    status = StatusStore(tmp_path / "status.sqlite3")
    queue = JobQueue(config.queue, tmp_path)
    return status, queue, Housekeeper(config, status, queue)


def _arrive(status: StatusStore, sop: str, study: str = "1.2.3") -> bool:
    header = InstanceHeader("MR")
    return status.record_instance(sop, study, "1.2.3.1", "1.2.840.10008.5.1.4.1.1.4",
                                  Path(f"/x/{sop}.dcm"), header)  # fmt: skip


def test_a_quiet_study_gets_one_job_and_a_late_arrival_a_new_revision(tmp_path: Path) -> None:
    status, queue, housekeeper = _setup(tmp_path, inactivity=0.3)
    assert _arrive(status, "1.1") and _arrive(status, "1.2")
    housekeeper.check()
    assert status.summary()["jobs"] == []  # still receiving
    time.sleep(0.4)
    housekeeper.check()
    (job,) = status.summary()["jobs"]
    assert (job["revision"], job["state"]) == (1, "queued")
    assert queue.pending_job_ids() == {job["id"]}

    assert not _arrive(status, "1.2")  # re-sent: not new, the study stays complete
    time.sleep(0.4)
    housekeeper.check()
    assert len(status.summary()["jobs"]) == 1

    assert _arrive(status, "1.3")  # late arrival
    (study,) = status.summary()["studies"]
    assert (study["state"], study["revision"], study["instances"]) == ("receiving", 2, 3)
    time.sleep(0.4)
    housekeeper.check()
    jobs = status.summary()["jobs"]
    assert [(j["revision"], j["state"]) for j in jobs] == [(1, "queued"), (2, "queued")]


def test_the_job_of_a_dead_worker_goes_back_to_the_queue(tmp_path: Path) -> None:
    status, queue, housekeeper = _setup(tmp_path, inactivity=0.0)
    _arrive(status, "2.1", study="2.2")
    housekeeper.check()
    (job_id,) = queue.pending_job_ids()
    queue.huey.flush()  # the worker took the task from the queue...
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    worker = f"{socket.gethostname()}:{dead.pid}:1"
    assert status.claim(job_id, worker) is not None  # ...claimed the job, and died
    assert status.claim(job_id, "another") is None  # a running job is not claimed twice
    housekeeper.check()
    assert status.job(job_id).state == "queued"
    assert queue.pending_job_ids() == {job_id}
