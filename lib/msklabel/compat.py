"""Compatibility between the pinned MONAI Label stack and pydicom 3, in one place.

monailabel 0.8.5 imports ``pydicom_seg``, which imports
``pydicom._storage_sopclass_uids``: a private module that pydicom 3 removed (its
UIDs now live in :mod:`pydicom.uid`). highdicom >= 0.23, pynetdicom 3 and
dicomweb-client 0.61 need pydicom 3, so the old module is provided again, built
on demand from :mod:`pydicom.uid`.

``msklabel-compat.pth`` in the environment's site-packages (the wheel holds it,
see ``setup.py``; the install script writes it for its editable install) makes
:func:`install` run at the start of every Python process there, including the
stock ``monailabel start_server``. It costs nothing until the module is
imported: pydicom is not imported early.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

LEGACY_MODULE = "pydicom._storage_sopclass_uids"

#: The line written to ``msklabel-compat.pth``; it must not fail if msklabel is gone.
PTH_LINE = (
    "import sys; exec('try:\\n import msklabel.compat as c; c.install()\\n"
    "except ImportError:\\n pass')\n"
)


class _StorageUidsLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return types.ModuleType(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        import pydicom.uid

        for name in dir(pydicom.uid):
            value = getattr(pydicom.uid, name)
            if name.endswith("Storage") and isinstance(value, pydicom.uid.UID):
                setattr(module, name, value)


class _StorageUidsFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != LEGACY_MODULE:
            return None
        return importlib.machinery.ModuleSpec(fullname, _StorageUidsLoader())


def install() -> None:
    """Make ``pydicom._storage_sopclass_uids`` importable (idempotent).

    It is appended to the import path, so a pydicom that still has the module
    keeps its own.
    """
    if not any(isinstance(finder, _StorageUidsFinder) for finder in sys.meta_path):
        sys.meta_path.append(_StorageUidsFinder())
