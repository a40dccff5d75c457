"""The pydicom 3 / MONAI Label import conflict is handled for every process of the venv."""

from __future__ import annotations

import subprocess
import sys

import pydicom.uid
import pytest

from msklabel import compat


def test_legacy_module_is_built_from_pydicom_uid() -> None:
    compat.install()
    compat.install()  # idempotent
    assert sum(isinstance(f, compat._StorageUidsFinder) for f in sys.meta_path) == 1
    from pydicom._storage_sopclass_uids import MRImageStorage, SegmentationStorage

    assert SegmentationStorage == pydicom.uid.SegmentationStorage == "1.2.840.10008.5.1.4.1.1.66.4"
    assert MRImageStorage == pydicom.uid.MRImageStorage


@pytest.mark.slow
def test_monailabel_server_application_imports_in_a_fresh_process() -> None:
    # No msklabel import here: the venv's msklabel-compat.pth must do it, as it does for the
    # stock `monailabel start_server`.
    code = "import monailabel.app as a; import pydicom_seg; print(type(a.app).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("FastAPI")
