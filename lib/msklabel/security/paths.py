"""Validate datastore ids and keep resolved paths inside a root folder."""

import re
from pathlib import Path

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class UnsafePathError(ValueError):
    """An id or path from a request would leave the datastore root."""


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a plain name (letters, digits, ``._-``), else raise."""
    if not SAFE_ID.fullmatch(value) or ".." in value:
        raise UnsafePathError(
            f"{what} {value!r} is not allowed: use letters, digits, '.', '_' or '-'"
        )
    return value


def inside_root(root: Path, name: str) -> Path:
    """Join ``name`` to ``root`` and raise unless the resolved path stays inside ``root``."""
    base = root.resolve()
    path = (base / check_id(name, "file name")).resolve()
    if path.parent != base:
        raise UnsafePathError(f"file name {name!r} resolves outside {base}")
    return path
