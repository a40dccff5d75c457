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


@pytest.fixture(scope="package", autouse=True)
def _one_thread() -> Iterator[None]:
    """Gradient boosting with one OpenMP thread: predictable times on small shared machines.

    Package scope: the limit is lifted after the clinical tests. (In session scope it stayed
    for every later test, and torch, which shares the OpenMP runtime, ran on one thread.)"""
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
