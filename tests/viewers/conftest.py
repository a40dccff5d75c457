"""What the viewer tests share: a folder for their artifacts and the server's log on failure."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk


@pytest.fixture(scope="module")
def artifacts(request, tmp_path_factory) -> Path:
    """Screenshots and answers of one test module: under ``$MSKLABEL_ARTIFACTS`` when set."""
    name = request.module.__name__.rpartition(".")[2]
    root = os.environ.get("MSKLABEL_ARTIFACTS")
    folder = Path(root) / name if root else tmp_path_factory.mktemp(name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _same_grid(label: sitk.Image, image: sitk.Image) -> None:
    assert label.GetSize() == image.GetSize()
    np.testing.assert_allclose(label.GetSpacing(), image.GetSpacing(), rtol=1e-4)
    np.testing.assert_allclose(label.GetOrigin(), image.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(label.GetDirection(), image.GetDirection(), atol=1e-4)


@pytest.fixture(scope="session")
def assert_same_grid() -> Callable[[sitk.Image, sitk.Image], None]:
    """Check that a label lies voxel for voxel on an image (size, spacing, origin, axes)."""
    return _same_grid
