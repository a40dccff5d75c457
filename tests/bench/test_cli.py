"""``msklabel bench`` end to end on a subset of its rows (no timing is asserted)."""

from __future__ import annotations

import json

import pytest

from msklabel.bench import FAMILIES
from msklabel.bench.encoder import BF16_ROW
from msklabel.cli import main
from msklabel.device import native_bf16


@pytest.mark.slow
def test_quick_subset_gives_every_row_a_reference_and_ratio_or_a_reason(tmp_path, capsys):
    path = tmp_path / "bench.json"
    status = main(["bench", "--quick", "--only", "encoder", "listener", "dicom", "memory",
                   "--json", str(path)])  # fmt: skip
    assert status == 0
    table = capsys.readouterr().out
    data = json.loads(path.read_text())
    rows = data["rows"]
    assert {row["family"] for row in rows} == {"encoder", "listener", "dicom", "memory"}
    for row in rows:
        assert row["name"] in table
        if row["unavailable"] is None:
            assert row["reference_name"] and row["reference"] > 0, row
            assert row["value"] > 0 and row["ratio"] == pytest.approx(
                row["value"] / row["reference"]
            )
        else:
            assert row["unavailable"].strip(), row
    measured = {row["name"] for row in rows if row["unavailable"] is None}
    # bf16 is measured exactly where the CPU has bf16 arithmetic, and otherwise says so
    native = native_bf16()[0]
    assert (BF16_ROW in measured) == native
    bf16_row = next(row for row in rows if row["name"] == BF16_ROW)
    assert native or "no bf16 arithmetic" in bf16_row["unavailable"]
    # these need nothing beyond the installed stack: they must be measured, not excused
    assert {
        "LiteMedSAM encoder fp32, per slice",
        "LiteMedSAM encoder fp32 ONNX Runtime, per slice",
        "SEG + SR writing, 160x384x384, 6 segments",
        "listener throughput, sample study",
    } <= measured
    encoder = next(row for row in rows if row["name"] == "LiteMedSAM encoder fp32, per slice")
    assert 60 < encoder["extra"]["gflop_per_slice"] < 90  # LiteMedSAM's ~75 GFLOP
    # the server and worker did not run in this subset: the memory rows say so
    reasons = [row["unavailable"] for row in rows if row["family"] == "memory"]
    assert reasons == ["the REST rows did not run"] * 2 + [
        "the worker's automatic segmentation (sample knee, knee network) did not run",
        "the worker's automatic segmentation (sample knee) did not run",
    ]
    rates = data["context"]["matmul_gflops"]
    assert rates and all(rate["fp32"] > 0 and ("bf16" in rate) == native for rate in rates)
    assert all(rate["bf16"] > 0 for rate in rates if native)


def test_unknown_family_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--only", "tpu"])
    assert "invalid choice" in capsys.readouterr().err
    assert "encoder" in FAMILIES
