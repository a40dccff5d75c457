"""A worker's handling of one job: claim it, keep a heartbeat, run the pipeline, and turn
the outcome into the job's state (done, skipped, failed, or retrying with backoff).

Only transient errors are retried (:func:`is_transient`): sending, the network, file-system
I/O, a locked database. Anything else (a bad input, a study the pipeline cannot measure, a
bug) fails at once with its reason: running it again would fail the same way."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from msklabel.errors import MsklabelError
from msklabel.pacs.config import PacsConfig
from msklabel.pacs.pipeline import JobRun, Resources, Skipped
from msklabel.pacs.send import SendError
from msklabel.pacs.status import StatusStore

logger = logging.getLogger(__name__)

#: I/O errors that retrying a few seconds later does not change.
_LASTING_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def is_transient(error: BaseException) -> bool:
    """Whether running the job again later may succeed: the one place that decides retries.

    Transient: a failed send (:class:`SendError`), network and other OS-level I/O errors
    (connection refused or reset, timeouts, a full or unavailable disk; not a missing file
    or a permission), a locked or busy SQLite database, an unreachable Redis. Everything
    else, msklabel's own errors (a bad input, a failed step) included, is deterministic.
    """
    if isinstance(error, SendError | RedisConnectionError | RedisTimeoutError):
        return True
    if isinstance(error, MsklabelError):
        return False
    if isinstance(error, sqlite3.OperationalError):
        return any(word in str(error).lower() for word in ("locked", "busy"))
    return isinstance(error, OSError) and not isinstance(error, _LASTING_OS_ERRORS)


def worker_name() -> str:
    """``host:pid:thread``, unique among live workers."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Worker:
    """Runs jobs for one process (its threads share the loaded models)."""

    def __init__(self, config: PacsConfig, status: StatusStore) -> None:
        self.config = config
        self.status = status
        self.resources = Resources(config.pipeline.models)
        #: Jobs running in this process now.
        self.running: set[int] = set()

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
        self.running.add(job_id)
        try:
            JobRun(self.config, self.status, job, self.resources).run()
        except Skipped as skipped:
            self.status.finish(job_id, "skipped", str(skipped))
            logger.info("job %d skipped: %s", job_id, skipped)
        except Exception as error:
            if isinstance(error, MsklabelError):
                message = str(error)
            else:
                message = f"{type(error).__name__}: {error}"
            if not is_transient(error):
                self.status.finish(job_id, "failed", message)
                # A traceback for what is not one of msklabel's own errors (likely a bug).
                logger.error(
                    "job %d failed (not retried): %s", job_id, message,
                    exc_info=not isinstance(error, MsklabelError),
                )  # fmt: skip
            elif retries_left > 0:
                self.status.finish(job_id, "retrying", message)
                logger.warning("job %d will be retried (%d left): %s", job_id, retries_left,
                               message)  # fmt: skip
                raise
            else:
                self.status.finish(job_id, "failed", f"{message} (no retries left)")
                logger.error("job %d failed (no retries left): %s", job_id, message)
        else:
            self.status.finish(job_id, "done")
            logger.info("job %d done", job_id)
        finally:
            self.running.discard(job_id)
            stop.set()
            beat.join()

    def _heartbeat(self, job_id: int, name: str, stop: threading.Event) -> None:
        every = max(self.config.queue.lease_s / 4, 0.2)
        while not stop.wait(every):
            self.status.heartbeat(job_id, name)
