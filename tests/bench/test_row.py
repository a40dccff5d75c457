"""Rows: a figure always comes with a named reference and a ratio, or with a reason."""

from __future__ import annotations

import json
import math

import pytest

from msklabel.bench.report import format_table, write_json
from msklabel.bench.row import Goal, Row


def test_ratio_and_goal():
    row = Row(
        "encoder", "encoder fp32", "ms", 900.0, "compute limit", 600.0, Goal("ratio", "<=", 1.5)
    )
    assert row.ratio == pytest.approx(1.5)
    assert row.met is True
    slow = Row(
        "encoder", "encoder fp32", "ms", 1200.0, "compute limit", 600.0, Goal("ratio", "<=", 1.5)
    )
    assert slow.met is False
    click = Row("click", "p95", "ms", 61.0, "decoder limit", 30.0, Goal("value", "<", 60))
    assert click.met is False and click.ratio == pytest.approx(61 / 30)


@pytest.mark.parametrize(
    "fields",
    [
        {"value": 1.0, "reference": 2.0},  # no reference named
        {"value": 1.0, "reference_name": "peer"},  # no reference value
        {"value": math.nan, "reference_name": "peer", "reference": 2.0},
        {},
    ],
)
def test_a_row_without_reference_or_reason_is_refused(fields):
    with pytest.raises(ValueError, match="reference, or a reason"):
        Row("listener", "throughput", "instances/s", **fields)


def test_a_missing_row_says_why_in_the_table_and_the_json(tmp_path):
    rows = [
        Row("dicom", "SEG + SR", "s", 5.0, "pydicom, same bytes", 0.1),
        Row.missing("arrival", "arrival-to-results", "s", "no Orthanc here"),
    ]
    table = format_table(rows)
    assert "50.00x" in table and "not available  no Orthanc here" in table
    path = tmp_path / "bench.json"
    write_json(rows, path, {"quick": True})
    data = json.loads(path.read_text())
    assert data["context"] == {"quick": True}
    assert data["rows"][0]["ratio"] == pytest.approx(50.0)
    assert data["rows"][1]["ratio"] is None
    assert data["rows"][1]["unavailable"] == "no Orthanc here"


def test_an_invalid_goal_is_refused():
    with pytest.raises(ValueError):
        Goal("speed", "<", 1.0)
