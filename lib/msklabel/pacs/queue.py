"""The job queue on huey: SQLite in the storage folder by default, Redis to share the work
between several workers and machines.

The queue carries job ids only; the job's state lives in :class:`~msklabel.pacs.status.
StatusStore`. A worker *claims* a job there before running it (an atomic update), so a job
handed out twice (a retry racing a recovery) still runs once. huey removes a task from its
queue when a worker takes it; a worker killed mid-job therefore leaves the job ``running``
with a heartbeat that stops: :class:`~msklabel.pacs.service.Housekeeper` puts such jobs
back in the queue. Transient failures (network, PACS down) are retried by huey with
exponential backoff; a job whose input is bad fails at once with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer

from msklabel.pacs.config import QueueConfig

logger = logging.getLogger(__name__)

QUEUE_NAME = "msklabel-pacs"
TASK_NAME = "process_job"

#: Runs one job: called with the job id and the number of retries huey has left.
JobRunner = Callable[[int, int], None]


class _QuietConsumer(Consumer):
    """A huey consumer that leaves signal handling to the process that embeds it."""

    def _set_signal_handlers(self) -> None:
        pass


def make_huey(config: QueueConfig, storage: Path) -> Huey:
    """The huey instance: SQLite at ``storage/queue.sqlite3``, or Redis at ``config.url``."""
    if config.url:
        return RedisHuey(QUEUE_NAME, url=config.url, results=False)
    return SqliteHuey(QUEUE_NAME, filename=str(storage / "queue.sqlite3"), results=False)


class JobQueue:
    """Hands job ids to workers; ``runner`` (if given) is what a worker runs."""

    def __init__(self, config: QueueConfig, storage: Path, runner: JobRunner | None = None):
        self.config = config
        self.huey = make_huey(config, storage)
        self._runner = runner

        def process_job(job_id: int, task: object = None) -> None:
            if self._runner is None:
                raise RuntimeError("this process has no worker")
            self._runner(job_id, int(getattr(task, "retries", 0) or 0))

        self._task = self.huey.task(
            retries=config.retries,
            retry_delay=config.retry_delay_s,
            retry_backoff=2.0,
            name=TASK_NAME,
            context=True,
        )(process_job)
        self._consumer: Consumer | None = None

    def enqueue(self, job_id: int) -> None:
        self._task(job_id)

    def pending_job_ids(self) -> set[int]:
        """Job ids waiting in the queue or scheduled for a retry."""
        tasks = [*self.huey.pending(), *self.huey.scheduled()]
        return {int(task.args[0]) for task in tasks if task.name == TASK_NAME and task.args}

    def start_workers(self, workers: int) -> None:
        """Run ``workers`` worker threads in this process (until :meth:`stop`)."""
        self._consumer = _QuietConsumer(
            self.huey, workers=workers, worker_type="thread", periodic=False,
            initial_delay=0.1, backoff=1.15, max_delay=1.0, check_worker_health=True,
            shutdown_timeout=self.config.shutdown_timeout_s,
        )  # fmt: skip
        self._consumer.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop taking jobs; wait up to ``timeout_s`` (None: ``shutdown_timeout_s``) for the
        running ones."""
        if self._consumer is not None:
            if timeout_s is not None:
                self._consumer.shutdown_timeout = max(0.0, timeout_s)
            self._consumer.stop(graceful=True)
            self._consumer = None
