"""A worker's handling of one job: claim it, keep a heartbeat, run the pipeline, and turn
the outcome into the job's state (done, skipped, failed, or retrying with backoff)."""

from __future__ import annotations

import logging
import os
import socket
import threading

from msklabel.errors import InputError
from msklabel.pacs.config import PacsConfig
from msklabel.pacs.pipeline import JobRun, Resources, Skipped, StepFailed
from msklabel.pacs.status import StatusStore

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """``host:pid:thread``, unique among live workers."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Worker:
    """Runs jobs for one process (its threads share the loaded models)."""

    def __init__(self, config: PacsConfig, status: StatusStore) -> None:
        self.config = config
        self.status = status
        self.resources = Resources(config.pipeline.models)

    def __call__(self, job_id: int, retries_left: int) -> None:
        """Run job ``job_id`` if this worker can claim it; ``retries_left`` are huey's."""
        name = worker_name()
        job = self.status.claim(job_id, name)
        if job is None:
            logger.info("job %d is not waiting (taken or finished): nothing to do", job_id)
            return
        logger.info("job %d (study revision %d), attempt %d", job.id, job.revision, job.attempts)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job_id, name, stop), daemon=True)
        beat.start()
        try:
            JobRun(self.config, self.status, job, self.resources).run()
        except Skipped as skipped:
            self.status.finish(job_id, "skipped", str(skipped))
            logger.info("job %d skipped: %s", job_id, skipped)
        except (StepFailed, InputError) as error:
            self.status.finish(job_id, "failed", str(error))
            logger.error("job %d failed: %s", job_id, error)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            if retries_left > 0:
                self.status.finish(job_id, "retrying", message)
                logger.warning("job %d will be retried (%d left): %s", job_id, retries_left,
                               message)  # fmt: skip
                raise
            self.status.finish(job_id, "failed", f"{message} (no retries left)")
            logger.exception("job %d failed", job_id)
        else:
            self.status.finish(job_id, "done")
            logger.info("job %d done", job_id)
        finally:
            stop.set()
            beat.join()

    def _heartbeat(self, job_id: int, name: str, stop: threading.Event) -> None:
        every = max(self.config.queue.lease_s / 4, 0.2)
        while not stop.wait(every):
            self.status.heartbeat(job_id, name)
