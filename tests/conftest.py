"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from msklabel.data.sample import SampleFiles, fetch_sample
from msklabel.segment.overlap import dice as dice_of
from msklabel.testing.orthanc import OrthancServer

# The suite runs on the CPU on every machine ("auto" means the CPU); tests marked gpu name
# the GPU. MSKLABEL_DEVICE=auto runs every test on the GPU where there is one.
os.environ.setdefault("MSKLABEL_DEVICE", "cpu")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` are skipped, with the reason, where torch sees no CUDA GPU."""
    if torch.cuda.is_available():
        return
    reason = f"needs a CUDA GPU; torch {torch.__version__} sees none on this machine"
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def dice():
    """``dice(a, b)``: the Dice coefficient of two boolean arrays (msklabel's own)."""
    return dice_of


@pytest.fixture(scope="session")
def sample() -> SampleFiles:
    """The real sample knee study (downloaded once per machine, then cached)."""
    return fetch_sample()


@pytest.fixture(scope="session")
def litemedsam():
    """The LiteMedSAM backend with its packaged weights (loaded once)."""
    from msklabel.segment import load_backend

    return load_backend("litemedsam")


@pytest.fixture
def orthanc() -> Iterator[OrthancServer]:
    """A fresh Orthanc on high loopback ports, stopped after the test."""
    with OrthancServer() as server:
        yield server
