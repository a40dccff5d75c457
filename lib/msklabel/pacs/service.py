"""One routing process: the listener, the housekeeper, workers and the HTTP status, as the
role asks (``all``, ``listener`` or ``worker``).

>>> from msklabel.pacs import Service, load_config
>>> config = load_config(storage="/tmp/pacs", listener={"port": 0}, status={"port": 0})
>>> with Service(config) as service:  # doctest: +SKIP
...     print(service.listener.port, service.status_server.url)
"""

from __future__ import annotations

import logging
import threading
import time

from msklabel.pacs.completion import Housekeeper
from msklabel.pacs.config import PacsConfig
from msklabel.pacs.intake import Intake
from msklabel.pacs.listener import Listener
from msklabel.pacs.queue import JobQueue
from msklabel.pacs.status import StatusServer, StatusStore
from msklabel.pacs.storage import InstanceStore
from msklabel.pacs.worker import Worker

logger = logging.getLogger(__name__)

ROLES = ("all", "listener", "worker")


class Service:
    """Starts and stops the parts of one process; ``role`` picks them."""

    def __init__(self, config: PacsConfig, role: str = "all") -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        self.config = config
        self.role = role
        self.store = InstanceStore(config.storage)
        self.status = StatusStore(config.storage / "status.sqlite3")
        self.worker = Worker(config, self.status) if role in ("all", "worker") else None
        self.queue = JobQueue(config.queue, config.storage, self.worker)
        self.housekeeper = Housekeeper(config, self.status, self.queue)
        self.listener: Listener | None = None
        self.status_server: StatusServer | None = None

    def start(self) -> Service:
        """Start the parts of the role; a worker's destination whose login secret is not in
        the environment fails here (:meth:`PacsConfig.check_logins`), before anything runs."""
        if self.worker is not None:
            self.config.check_logins()
        removed = self.store.clean_incoming()
        if removed:
            logger.info("removed %d unacknowledged partial file(s)", removed)
        if self.role in ("all", "listener"):
            intake = Intake(self.store, self.status, int(self.config.listener.min_free_mb * 2**20))
            self.listener = Listener(self.config.listener, intake).start()
            recorded = intake.recover()
            if recorded:
                logger.info("recorded %d stored instance(s) missing from the status", recorded)
            if self.config.status.port:
                self.status_server = StatusServer(
                    self.status, self.config.status.host, self.config.status.port
                ).start()
        self.housekeeper.start()
        if self.role in ("all", "worker"):
            self.queue.start_workers(self.config.queue.workers)
        return self

    def stop(self) -> list[int]:
        """Stop every part within the queue's shutdown timeout: the listener, housekeeper and
        status server stop while the workers get the time left to finish, and a part still
        stopping at the end is left behind (logged). Returns the jobs still running then
        (their threads cannot be stopped: leave the process with :func:`os._exit`, and the
        next start resumes them)."""
        deadline = time.monotonic() + self.config.queue.shutdown_timeout_s
        parts = [p for p in (self.listener, self.housekeeper, self.status_server) if p]
        stoppers = [
            threading.Thread(target=part.stop, name=type(part).__name__, daemon=True)
            for part in parts
        ]
        for stopper in stoppers:
            stopper.start()
        self.queue.stop(deadline - time.monotonic())
        for stopper in stoppers:
            stopper.join(max(0.0, deadline - time.monotonic()))
            if stopper.is_alive():
                logger.warning("the %s was still stopping at the shutdown timeout", stopper.name)
        return sorted(self.worker.running) if self.worker is not None else []

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
