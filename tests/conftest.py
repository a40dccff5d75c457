"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from msklabel.data.sample import SampleFiles, fetch_sample
from msklabel.testing.orthanc import OrthancServer


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
