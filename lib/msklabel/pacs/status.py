"""The routing state in one SQLite file: studies, instances, kept-aside instances, jobs,
their steps with timings, and what was sent where; also served read-only over HTTP.

Every writer (listener threads, workers in other processes) opens its own connection; the
file is in WAL mode with full sync, so a committed record survives a crash. Rows hold
UIDs, states, times and reasons, never patient-identifying attributes.

Job states: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``skipped``, with
``retrying`` between attempts. A study is ``receiving`` until it has been quiet for the
inactivity time, then ``complete`` with a job for its current revision; a new instance of a
complete study starts the next revision (see :mod:`msklabel.pacs.completion`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from msklabel.pacs.header import InstanceHeader

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    instances INTEGER NOT NULL DEFAULT 0, revision INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL, series_uid TEXT NOT NULL,
    sop_class_uid TEXT, path TEXT NOT NULL, received REAL NOT NULL, header TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS instances_study ON instances (study_uid);
CREATE TABLE IF NOT EXISTS quarantined (
    id INTEGER PRIMARY KEY, study_uid TEXT, sop_uid TEXT, kind TEXT NOT NULL,
    folder TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY, study_uid TEXT NOT NULL, revision INTEGER NOT NULL,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    enqueued REAL, started REAL, finished REAL, heartbeat REAL, worker TEXT, error TEXT,
    UNIQUE (study_uid, revision));
CREATE TABLE IF NOT EXISTS steps (
    job_id INTEGER NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, started REAL,
    seconds REAL, detail TEXT, PRIMARY KEY (job_id, name));
CREATE TABLE IF NOT EXISTS sent (
    job_id INTEGER NOT NULL, destination TEXT NOT NULL, sop_uid TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (job_id, destination, sop_uid));
"""


@dataclass(frozen=True)
class Job:
    """One job row."""

    id: int
    study_uid: str
    revision: int
    state: str
    attempts: int
    error: str | None


@dataclass(frozen=True)
class StoredInstance:
    """One recorded instance: where it is stored and its header."""

    sop_uid: str
    study_uid: str
    series_uid: str
    sop_class_uid: str | None
    path: str
    received: float
    header: InstanceHeader


@dataclass(frozen=True)
class KeptAside:
    """One instance kept aside (quarantined), and why."""

    study_uid: str | None
    sop_uid: str | None
    kind: str
    folder: str
    reason: str
    at: float


class StatusStore:
    """The state database at ``path`` (created with its schema if absent)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        connection.execute("PRAGMA synchronous=FULL")
        connection.row_factory = sqlite3.Row
        return contextlib.closing(connection)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._connect() as connection:
            return connection.execute(sql, args).fetchall()

    # -- arrivals ---------------------------------------------------------------------------

    def record_instance(
        self, sop: str, study: str, series: str, sop_class: str, path: Path, header: InstanceHeader
    ) -> bool:
        """Record a stored instance; True if it is new (a re-sent one changes nothing)."""
        with self._transaction() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO instances VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sop, study, series, sop_class, os.fspath(path), time.time(), header.to_json()),
            ).rowcount
            if inserted:
                _touch_study(db, study)
            return bool(inserted)

    def record_quarantine(
        self, study: str | None, sop: str | None, kind: str, folder: Path, reason: str
    ) -> None:
        """Record an instance kept aside (its study, if known, counts it as an arrival)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO quarantined (study_uid, sop_uid, kind, folder, reason, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (study, sop, kind, os.fspath(folder), reason, time.time()),
            )
            if study:
                _touch_study(db, study, count=0)

    def instance_place(self, sop: str) -> tuple[str, str] | None:
        """``(study, series)`` a stored SOP Instance UID is recorded under, or None."""
        rows = self._query("SELECT study_uid, series_uid FROM instances WHERE sop_uid = ?", sop)
        return (rows[0]["study_uid"], rows[0]["series_uid"]) if rows else None

    def known_paths(self) -> set[str]:
        return {row["path"] for row in self._query("SELECT path FROM instances")}

    def study_instances(self, study: str) -> list[StoredInstance]:
        """The study's recorded instances, by series and SOP Instance UID."""
        rows = self._query(
            "SELECT * FROM instances WHERE study_uid = ? ORDER BY series_uid, sop_uid", study
        )
        return [_stored_instance(row) for row in rows]

    def study_quarantine(self, study: str) -> list[KeptAside]:
        """The study's instances kept aside, in arrival order."""
        rows = self._query(
            "SELECT study_uid, sop_uid, kind, folder, reason, at FROM quarantined "
            "WHERE study_uid = ? ORDER BY id",
            study,
        )
        return [KeptAside(*row) for row in rows]

    # -- completion and jobs ----------------------------------------------------------------

    def complete_quiet_studies(self, quiet_since: float) -> list[int]:
        """Create a job for every receiving study last touched before ``quiet_since``."""
        created = []
        with self._transaction() as db:
            rows = db.execute(
                "SELECT study_uid, revision FROM studies WHERE state = 'receiving' "
                "AND last_seen < ?",
                (quiet_since,),
            ).fetchall()
            for row in rows:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO jobs (study_uid, revision, state, created) "
                    "VALUES (?, ?, 'queued', ?)",
                    (row["study_uid"], row["revision"], time.time()),
                )
                if cursor.rowcount:
                    created.append(int(cursor.lastrowid))
                db.execute(
                    "UPDATE studies SET state = 'complete' WHERE study_uid = ?", (row["study_uid"],)
                )
        return created

    def unenqueued_jobs(self) -> list[int]:
        """Queued jobs not yet handed to the queue."""
        rows = self._query("SELECT id FROM jobs WHERE state = 'queued' AND enqueued IS NULL")
        return [row["id"] for row in rows]

    def queued_jobs(self) -> list[int]:
        return [row["id"] for row in self._query("SELECT id FROM jobs WHERE state = 'queued'")]

    def running_jobs(self) -> list[sqlite3.Row]:
        return self._query("SELECT id, worker, heartbeat FROM jobs WHERE state = 'running'")

    def release(self, job_id: int, worker: str) -> bool:
        """Put a job whose ``worker`` died back in the queue; False if it moved on."""
        with self._transaction() as db:
            return bool(
                db.execute(
                    "UPDATE jobs SET state = 'queued', enqueued = NULL "
                    "WHERE id = ? AND state = 'running' AND worker = ?",
                    (job_id, worker),
                ).rowcount
            )

    def mark_enqueued(self, job_id: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET enqueued = ? WHERE id = ?", (time.time(), job_id))

    def claim(self, job_id: int, worker: str) -> Job | None:
        """Take the job for ``worker`` if it is waiting (queued, or between retries)."""
        now = time.time()
        with self._transaction() as db:
            taken = db.execute(
                "UPDATE jobs SET state = 'running', worker = ?, heartbeat = ?, "
                "started = COALESCE(started, ?), attempts = attempts + 1 "
                "WHERE id = ? AND state IN ('queued', 'retrying')",
                (worker, now, now, job_id),
            ).rowcount
            if not taken:
                return None
            db.execute(
                "UPDATE steps SET state = 'interrupted' WHERE job_id = ? AND state = 'running'",
                (job_id,),
            )
            return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def heartbeat(self, job_id: int, worker: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET heartbeat = ? WHERE id = ? AND worker = ? AND state = 'running'",
                (time.time(), job_id, worker),
            )

    def finish(self, job_id: int, state: str, error: str | None = None) -> None:
        """End a job: ``done``, ``failed``, ``skipped`` (``error`` says why) or ``retrying``."""
        finished = None if state == "retrying" else time.time()
        with self._transaction() as db:
            db.execute(
                "UPDATE jobs SET state = ?, error = ?, finished = ? WHERE id = ?",
                (state, error, finished, job_id),
            )

    def job(self, job_id: int) -> Job:
        return _job(self._query("SELECT * FROM jobs WHERE id = ?", job_id)[0])

    # -- steps and sending ------------------------------------------------------------------

    def step_state(self, job_id: int, name: str) -> str | None:
        rows = self._query("SELECT state FROM steps WHERE job_id = ? AND name = ?", job_id, name)
        return rows[0]["state"] if rows else None

    def step_started(self, job_id: int, name: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, 'running', ?, NULL, NULL)",
                (job_id, name, time.time()),
            )

    def step_finished(self, job_id: int, name: str, seconds: float, detail: str = "") -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE steps SET state = 'done', seconds = ?, detail = ? "
                "WHERE job_id = ? AND name = ?",
                (seconds, detail, job_id, name),
            )

    def step_failed(self, job_id: int, name: str, seconds: float, detail: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE steps SET state = 'failed', seconds = ?, detail = ? "
                "WHERE job_id = ? AND name = ?",
                (seconds, detail, job_id, name),
            )

    def was_sent(self, job_id: int, destination: str, sop: str) -> bool:
        sql = "SELECT 1 FROM sent WHERE job_id = ? AND destination = ? AND sop_uid = ?"
        return bool(self._query(sql, job_id, destination, sop))

    def mark_sent(self, job_id: int, destination: str, sop: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO sent VALUES (?, ?, ?, ?)",
                (job_id, destination, sop, time.time()),
            )

    # -- reporting --------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts, studies and jobs (with steps and timings), ready for JSON."""
        jobs = [dict(row) for row in self._query("SELECT * FROM jobs ORDER BY id")]
        steps: dict[int, list[dict]] = {}
        for row in self._query("SELECT * FROM steps ORDER BY job_id, started"):
            steps.setdefault(row["job_id"], []).append(
                {k: row[k] for k in ("name", "state", "seconds", "detail")}
            )
        for job in jobs:
            job["steps"] = steps.get(job["id"], [])
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job["state"]] = counts.get(job["state"], 0) + 1
        return {
            "studies": [
                dict(row) for row in self._query("SELECT * FROM studies ORDER BY first_seen")
            ],
            "instances": self._query("SELECT COUNT(*) AS n FROM instances")[0]["n"],
            "quarantined": [dict(row) for row in self._query("SELECT * FROM quarantined")],
            "jobs": jobs,
            "job_counts": counts,
        }


def _touch_study(db: sqlite3.Connection, study: str, count: int = 1) -> None:
    """An arrival for ``study``: create it, or refresh it; a complete study starts its next
    revision (the late-arrival update)."""
    now = time.time()
    db.execute(
        "INSERT INTO studies (study_uid, first_seen, last_seen, instances, revision, state) "
        "VALUES (?, ?, ?, ?, 1, 'receiving') ON CONFLICT (study_uid) DO UPDATE SET "
        "last_seen = excluded.last_seen, instances = instances + excluded.instances, "
        "revision = revision + (state = 'complete'), state = 'receiving'",
        (study, now, now, count),
    )


def _stored_instance(row: sqlite3.Row) -> StoredInstance:
    try:
        header = InstanceHeader.from_json(row["header"])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{row['sop_uid']}: stored instance header cannot be read ({error})"
        ) from None
    return StoredInstance(row["sop_uid"], row["study_uid"], row["series_uid"],
                          row["sop_class_uid"], row["path"], row["received"], header)  # fmt: skip


def _job(row: sqlite3.Row) -> Job:
    return Job(row["id"], row["study_uid"], row["revision"], row["state"], row["attempts"],
               row["error"])  # fmt: skip


class StatusServer:
    """``GET /status`` (the :meth:`StatusStore.summary` JSON) on ``host:port`` in a thread."""

    def __init__(self, store: StatusStore, host: str = "127.0.0.1", port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.rstrip("/") not in ("", "/status"):
                    self.send_error(404, "only /status is served")
                    return
                body = json.dumps(store.summary(), indent=1).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/status"

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
