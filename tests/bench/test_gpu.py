"""The gpu rows of ``msklabel bench``: where torch sees no CUDA GPU each says why it is absent."""

from __future__ import annotations

import pytest
import torch

from msklabel.bench.context import BenchContext, BenchSettings
from msklabel.bench.gpu import ITEMS, gpu_rows
from msklabel.bench.report import format_table


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_without_a_gpu_every_gpu_row_says_why_it_is_absent(tmp_path):
    rows = gpu_rows(BenchContext(BenchSettings(quick=True), tmp_path))
    assert [(row.name, row.unit) for row in rows] == list(ITEMS)
    assert {row.family for row in rows} == {"gpu"}
    for row in rows:
        assert row.value is None and row.ratio is None
        assert row.unavailable.startswith("no CUDA GPU: torch.cuda.is_available() is False")
    table = format_table(rows)
    assert table.count("not available  no CUDA GPU") == len(ITEMS)
