"""SHA-256 of files: what identifies weights and downloaded data in cache keys, provenance
and pins."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, hex (read once per size and modification time of the file)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _digest(resolved, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
