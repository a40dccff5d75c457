"""Fixtures of the clinical-model tests: small synthetic cohorts and their reference."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from msklabel.clinical.cohort import (
    normal_reference_table,
    synthetic_longitudinal_cohort,
    synthetic_triage_cohort,
)
from msklabel.clinical.features import ReferenceCohort


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Gradient boosting with one OpenMP thread: predictable times on small shared machines.

    Module scope: the limit is lifted after each clinical test module. Torch shares the
    OpenMP runtime, so a limit that outlives the clinical tests (session scope, or package
    scope, which in a folder without ``__init__.py`` lasts the session too) runs every later
    test's torch on one thread (tests/test_threads.py checks it does not)."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def reference() -> ReferenceCohort:
    return ReferenceCohort.from_table(normal_reference_table(800, seed=101))


@pytest.fixture(scope="session")
def triage_cohort() -> pd.DataFrame:
    return synthetic_triage_cohort(1200, seed=7)


@pytest.fixture(scope="session")
def longitudinal_cohort() -> pd.DataFrame:
    return synthetic_longitudinal_cohort(600, seed=3)
