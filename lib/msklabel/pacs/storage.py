"""Durable storage of received instances, and a quarantine for those that cannot be used.

Layout under the storage root::

    instances/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm
    quarantine/<UTC time>-<id>/instance.dcm + reason.txt
    incoming/                       temporary files (removed at start)

A file is written to ``incoming/``, flushed and fsync'ed, renamed atomically into place, and
its folder fsync'ed: once :meth:`InstanceStore.store` returns, the instance survives a
crash or power loss, and no partly written file ever sits under ``instances/``. Storing a
SOP Instance UID that is already stored keeps the first copy (idempotent).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

#: A DICOM UID: digits and dots, at most 64 characters.
UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def valid_uid(value: str) -> bool:
    """Whether ``value`` is a well-formed DICOM UID (safe as a file name)."""
    return len(value) <= 64 and UID_PATTERN.match(value) is not None


def fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (creations, renames) durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def make_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each creation made durable."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        fsync_dir(path.parent)


def durable_write(path: Path, data: bytes, scratch: Path) -> None:
    """Write ``data`` to ``path`` atomically and durably, through a file in ``scratch``
    (a folder on the same file system)."""
    make_dirs(path.parent)
    temporary = scratch / f"{uuid.uuid4().hex}.part"
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_dir(path.parent)


class InstanceStore:
    """The instance and quarantine folders under one root."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.instances = self.root / "instances"
        self.quarantine_dir = self.root / "quarantine"
        self.incoming = self.root / "incoming"
        for folder in (self.instances, self.quarantine_dir, self.incoming):
            make_dirs(folder)

    def clean_incoming(self) -> int:
        """Remove temporary files left by a crash (never acknowledged); how many."""
        leftovers = list(self.incoming.glob("*.part"))
        for path in leftovers:
            path.unlink(missing_ok=True)
        return len(leftovers)

    def path_for(self, study: str, series: str, sop: str) -> Path:
        for uid in (study, series, sop):
            if not valid_uid(uid):
                raise ValueError(f"not a valid UID: {uid!r}")
        return self.instances / study / series / f"{sop}.dcm"

    def store(self, data: bytes, study: str, series: str, sop: str) -> tuple[Path, bool]:
        """Store one encoded instance (DICOM file bytes); its path and whether it was new."""
        path = self.path_for(study, series, sop)
        if path.exists():
            return path, False
        durable_write(path, data, self.incoming)
        return path, True

    def quarantine(self, data: bytes, reason: str) -> Path:
        """Keep ``data`` aside with ``reason``; the folder holding both."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        folder = self.quarantine_dir / f"{stamp}-{uuid.uuid4().hex[:12]}"
        durable_write(folder / "reason.txt", reason.encode() + b"\n", self.incoming)
        durable_write(folder / "instance.dcm", data, self.incoming)
        return folder

    def free_bytes(self) -> int:
        """Free space on the storage's file system."""
        return shutil.disk_usage(self.root).free

    def stored_files(self) -> Iterator[Path]:
        """Every stored instance file."""
        yield from self.instances.glob("*/*/*.dcm")
