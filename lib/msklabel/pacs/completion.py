"""Study completion and job recovery, checked every second or so by a background thread.

Instances are grouped by Study Instance UID as they are recorded. A study is complete once
no instance of it has arrived for ``completion.inactivity_s`` seconds: a job is created for
its current revision and handed to the queue.

Late arrivals: an instance that is new to a study already complete (a re-sent one is not
new) opens the study's next revision; once the study is quiet again, a new job processes
the whole study as it then stands, and its results go out as new SEG/SR/report instances
(new SOP Instance UIDs). The earlier results stay where they were sent: DICOM results are
added, never deleted.

Recovery: a job left ``running`` by a worker that died (no heartbeat for ``queue.lease_s``
seconds, or at once when the worker was a process on this host that no longer exists) is
put back in the queue, as is a job that never reached it (e.g. the listener was killed
between creating and queueing it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from msklabel.pacs.config import PacsConfig
from msklabel.pacs.queue import JobQueue
from msklabel.pacs.status import StatusStore

logger = logging.getLogger(__name__)


class Housekeeper:
    """The background thread that completes studies and recovers jobs."""

    def __init__(self, config: PacsConfig, status: StatusStore, queue: JobQueue) -> None:
        self.config = config
        self.status = status
        self.queue = queue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="housekeeper", daemon=True)

    def start(self) -> Housekeeper:
        self.requeue_lost()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def requeue_lost(self) -> None:
        """Queue again the waiting jobs the queue does not hold (its task taken by a worker
        that died before claiming the job)."""
        pending = self.queue.pending_job_ids()
        for job_id in self.status.queued_jobs():
            if job_id not in pending:
                self.queue.enqueue(job_id)
                self.status.mark_enqueued(job_id)

    def check(self) -> None:
        """One round: complete quiet studies, release dead workers' jobs, queue new jobs."""
        now = time.time()
        created = self.status.complete_quiet_studies(now - self.config.completion.inactivity_s)
        for job_id in created:
            logger.info("study complete: job %d created", job_id)
        for row in self.status.running_jobs():
            silent_since = now - self.config.queue.lease_s
            if _dead(row["worker"], row["heartbeat"], silent_since) and self.status.release(
                row["id"], row["worker"]
            ):
                logger.warning("job %d: its worker stopped; queued again", row["id"])
        for job_id in self.status.unenqueued_jobs():
            self.queue.enqueue(job_id)
            self.status.mark_enqueued(job_id)

    def _loop(self) -> None:
        while not self._stop.wait(self.config.completion.check_every_s):
            try:
                self.check()
            except Exception:
                logger.exception("housekeeping failed; trying again")


def _dead(worker: str | None, heartbeat: float | None, silent_since: float) -> bool:
    if heartbeat is None or heartbeat < silent_since:
        return True
    host, _, rest = (worker or "").partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
