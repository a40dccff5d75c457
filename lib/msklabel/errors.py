"""Errors that msklabel reports to its users as clear messages, not tracebacks."""

from __future__ import annotations

import os


class MsklabelError(Exception):
    """Base class: the command line prints these as one line and exits non-zero."""


class InputError(MsklabelError, ValueError):
    """An input file or folder cannot be used.

    The message always names the offending path and the reason, so that a
    user (or a PACS administrator reading a log) can act on it.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DataUnavailableError(MsklabelError, RuntimeError):
    """Data or weights that msklabel needs could not be obtained or failed verification."""


class OptionError(MsklabelError, ValueError):
    """An option or setting cannot be used: an unknown value, or one the other choices
    exclude (e.g. a runtime a model does not run in)."""


class DeviceError(MsklabelError, ValueError):
    """A compute device cannot be used: an unknown name, or a GPU this machine lacks."""
