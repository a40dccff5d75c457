"""The automatic-segmentation worker on the knee network (the PACS pipeline's path): what it
reports for the bench rows (no timing is asserted)."""

from __future__ import annotations

import pytest

from msklabel.bench.automatic import run_worker
from msklabel.data.sample import fetch_sample


@pytest.mark.slow
def test_knee_network_worker_reports_its_time_flops_and_memory():
    result = run_worker(["--sample", str(fetch_sample().dicom_dir), "--knee"])
    assert result["method"].startswith("knee network")
    assert result["slices"] == 24 and result["shape"] == [24, 256, 256]
    assert result["seconds"] > 0
    # 3 zooms of 24 slices through a 2D U-Net of 16-256 channels: about 130 GFLOP
    assert 50e9 < result["flops"] < 500e9
    assert result["peak_rss"] > 200 * 1024**2
