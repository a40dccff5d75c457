"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest

from msklabel.data.sample import SampleFiles, fetch_sample


@pytest.fixture(scope="session")
def sample() -> SampleFiles:
    """The real sample knee study (downloaded once per machine, then cached)."""
    return fetch_sample()
